// The bays page: every second, the bays' states from /bays.json, written into the table.
"use strict";
(function () {
  const words = JSON.parse(document.getElementById("bay-words").textContent);
  const body = document.querySelector("#bays tbody");
  const none = document.getElementById("bays-none");
  const megabytes = (n) => (n / 1e6).toFixed(1);

  function cells(bay) {
    return {
      bay: bay.bay, state: words[bay.state] || bay.state, device: bay.device, officer: bay.officer,
      files: `${bay.files_done}/${bay.files_total}`,
      bytes: `${megabytes(bay.bytes_done)}/${megabytes(bay.bytes_total)}`,
      rate: bay.rate ? (bay.rate / 1e6).toFixed(2) : "",
      left: bay.seconds_left === null ? "" : `${Math.round(bay.seconds_left)} s`,
      result: bay.result,
    };
  }

  function show(bays) {
    none.hidden = bays.length > 0;
    const rows = bays.map((bay) => {
      let row = body.querySelector(`tr[data-bay="${CSS.escape(bay.bay)}"]`);
      if (!row) {
        row = document.createElement("tr");
        row.dataset.bay = bay.bay;
        for (const name of Object.keys(cells(bay))) {
          const cell = document.createElement("td");
          cell.className = name;
          row.appendChild(cell);
        }
      }
      row.className = `bay-${bay.state}`;
      for (const [name, text] of Object.entries(cells(bay))) {
        row.querySelector(`td.${name}`).textContent = text;
      }
      return row;
    });
    body.replaceChildren(...rows);
  }

  async function poll() {
    try {
      const answer = await fetch("/bays.json", {cache: "no-store", credentials: "same-origin"});
      if (answer.ok) {
        show(await answer.json());
      }
    } finally {
      setTimeout(poll, 1000);
    }
  }
  setTimeout(poll, 1000);
})();
