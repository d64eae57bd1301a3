"""Every label a user reads, in Chinese (the page's default) and English: the page's words
(``TEXT``, looked up by key) and the labels of the codes the station stores (``CODES``: stop
reasons, session and bay states, roles, audit actions and outcomes, export states, the fields of
audit details), with the verification details the evidence verifier writes (``DETAILS``). The
page, the command line, the record form and the export package all take their words from here."""
from __future__ import annotations

import re
from typing import Any, Callable

LANGUAGES = ("zh", "en")

TEXT: dict[str, tuple[str, str]] = {
    "title": ("执法记录仪 · 采集工作站", "Body-worn recorder · dock station"),
    "login": ("登录", "Sign in"),
    "logout": ("退出", "Sign out"),
    "user": ("用户名", "User"),
    "password": ("密码", "Password"),
    "login_failed": ("用户名或密码错误。", "Wrong user name or password."),
    "login_locked": ("登录失败次数过多，请稍后再试或请管理员解除锁定。",
                     "Too many failed sign-ins: try again later or ask an administrator to lift the lockout."),
    "signed_in_as": ("当前用户", "Signed in as"),
    "search": ("检索", "Search"),
    "officer": ("警员（警号或姓名）", "Officer (police number or name)"),
    "device": ("设备编号", "Device"),
    "unit": ("单位", "Unit"),
    "date": ("日期", "Date"),
    "case": ("案件编号", "Case"),
    "marker": ("标记", "Marker"),
    "state": ("校验状态", "Verification state"),
    "any": ("不限", "any"),
    "results": ("检索结果", "Results"),
    "no_results": ("没有符合条件的记录。", "No session matches."),
    "catalogued": ("入库", "Archived"),
    "catalogue_verified": ("完整", "complete"),
    "catalogue_incomplete": ("不完整", "incomplete"),
    "verified_segments": ("分段校验（逐字节核验）", "Segment verification (reads every byte)"),
    "session": ("录像", "Session"),
    "started": ("开始", "Started"),
    "segments": ("分段", "Segments"),
    "stop_reason": ("停止原因", "Stop reason"),
    "not_closed": ("未正常结束", "not closed"),
    "place": ("摄录地点", "Place (first – last GNSS fix)"),
    "no_place": ("设备未记录定位", "no GNSS fix sealed"),
    "verification": ("校验", "Verification"),
    "problems": ("问题", "Problems"),
    "segment": ("分段", "Segment"),
    "from_to": ("起止（帧索引采集时间）", "From – to (frame index capture time)"),
    "detail": ("说明", "Detail"),
    "markers": ("标记", "Markers"),
    "reason_needed": ("查看录像须说明理由，理由将记入审计日志。",
                      "State why you view this footage; the reason goes into the audit trail."),
    "reason": ("理由", "Reason"),
    "reason_short": ("请填写理由（至少 4 个字符）。", "Give a reason (at least 4 characters)."),
    "view": ("查看录像", "View footage"),
    "viewing_for": ("查看理由", "Viewing for"),
    "may_not_view": ("您的角色无权查看录像。", "Your role may not view footage."),
    "capture_time": ("帧索引采集时间", "Capture time (frame index)"),
    "overlay_time_hint": ("请与画面叠加时间比对", "compare with the time burned into the picture"),
    "playing_segment": ("当前分段", "Playing segment"),
    "export": ("导出", "Export"),
    "exports": ("导出申请", "Export requests"),
    "request_export": ("申请导出", "Request an export"),
    "requester": ("申请人", "Requested by"),
    "requested": ("申请时间", "Requested"),
    "export_state": ("状态", "State"),
    "state_requested": ("待审批", "awaiting approval"),
    "state_approved": ("已批准", "approved"),
    "state_made": ("已制作", "made"),
    "state_refused": ("已拒绝", "refused"),
    "decided_by": ("审批人", "Decided by"),
    "recipient": ("制作人（工作站用户）", "Made by (station user)"),
    "destination": ("提供给", "For"),
    "refusal_note": ("拒绝理由", "why refused"),
    "confidential": ("密级", "Confidential"),
    "approve": ("批准", "Approve"),
    "refuse": ("拒绝", "Refuse"),
    "no_exports": ("暂无导出申请。", "No export requests."),
    "writeups": ("情况说明", "Write-up"),
    "needs_writeup": ("本次停止录制的原因须补充书面说明。", "This stop needs a written account of its reason."),
    "no_writeup_needed": ("无需书面说明。", "No write-up needed."),
    "writeup_text": ("说明", "Account"),
    "write_up": ("提交说明", "Submit the write-up"),
    "signed_by_station": ("工作站签名", "signed by the station"),
    "cases": ("关联案件", "Cases"),
    "case_name": ("案件名称（新案件）", "Case name (a new case)"),
    "case_party": ("当事人", "Party"),
    "link_case": ("关联案件", "Link to the case"),
    "closed": ("已结案", "closed"),
    "holds": ("法律保全", "Legal holds"),
    "place_hold": ("设置保全", "Place a hold"),
    "release": ("解除", "Release"),
    "audit": ("审计日志", "Audit trail"),
    "audit_of": ("审计日志：", "Audit trail of "),
    "when": ("时间", "When"),
    "who": ("人员", "Who"),
    "action": ("操作", "Action"),
    "outcome": ("结果", "Outcome"),
    "from": ("来源", "From"),
    "refused": ("拒绝访问", "Refused"),
    "back": ("返回", "Back"),
    "bays": ("采集仓位", "Bays"),
    "bays_none": ("采集服务尚未运行。", "The dock service has not run yet."),
    "bay": ("仓位", "Bay"),
    "bay_state": ("状态", "State"),
    "bay_officer": ("警号", "Officer"),
    "bay_files": ("文件", "Files"),
    "bay_bytes": ("数据量 (MB)", "Data (MB)"),
    "bay_rate": ("速率 (MB/s)", "Rate (MB/s)"),
    "bay_left": ("剩余时间", "Time left"),
    "bay_result": ("上次结果", "Last result"),
    "bay_idle": ("空闲", "idle"),
    "bay_authenticating": ("认证中", "authenticating"),
    "bay_pulling": ("采集中", "pulling"),
    "bay_verifying": ("校验中", "verifying"),
    "bay_done": ("完成", "done"),
    "bay_refused": ("已拒绝", "refused"),
    "bay_error": ("故障", "error"),
    "checked_at": ("以下校验结果的核验时间", "These verdicts were checked at"),
    "verify_now": ("立即重新核验（逐字节）", "Verify now (reads every byte)"),
    "admin": ("系统管理", "Administration"),
    "audit_all": ("全部审计日志", "The whole audit trail"),
    "audit_intact": ("审计日志校验通过：每条记录的签名和链接均完好。",
                     "The audit trail verifies: every entry's signature and link hold."),
    "audit_broken": ("审计日志校验未通过：", "The audit trail does not verify:"),
    "entries": ("条记录", "entries"),
    "newest": ("显示最新", "showing the newest"),
    "outcome_done": ("完成", "done"),
    "outcome_refused": ("拒绝", "refused"),
    "users": ("用户", "Users"),
    "full_name": ("姓名", "Full name"),
    "role": ("角色", "Role"),
    "role_custodian": ("保管员", "custodian"),
    "role_reviewer": ("查阅员", "reviewer"),
    "role_supervisor": ("主管", "supervisor"),
    "role_administrator": ("系统管理员", "administrator"),
    "set_role": ("修改角色", "Set the role"),
    "account_state": ("账号状态", "Account"),
    "enabled": ("启用", "enabled"),
    "disabled": ("已停用", "disabled"),
    "enable": ("启用", "Enable"),
    "disable": ("停用", "Disable"),
    "new_password": ("新密码", "new password"),
    "reset_password": ("重置密码", "Reset the password"),
    "add_user": ("添加用户", "Add the user"),
    "lockouts": ("登录锁定", "Sign-in lockouts"),
    "locked": ("被锁定", "Locked"),
    "lock_user": ("用户", "user"),
    "lock_address": ("地址", "address"),
    "failures": ("连续失败次数", "Failures in a row"),
    "locked_until": ("锁定至", "Locked until"),
    "lift": ("解除锁定", "Lift the lockout"),
    "no_lockouts": ("当前没有被锁定的用户或地址。", "No user or address is locked out."),
    "devices": ("设备", "Devices"),
    "device_key": ("设备公钥（PEM、十六进制或 base64）", "Device public key (PEM, hex or base64)"),
    "enrol": ("登记设备", "Enrol the device"),
    "ledger": ("设备领用台账", "Device ledger"),
    "handed_out": ("领用时间", "Handed out"),
    "taken_back": ("归还时间", "Taken back"),
    "sessions_worn": ("期间录像数", "Sessions"),
    "flagged": ("不符", "Flagged"),
    "police_number": ("警号", "Police number"),
    "assign": ("领用登记", "Hand out"),
    "give_back": ("归还登记", "Take back"),
    "mismatches": ("台账不符的录像", "Sessions the ledger contradicts"),
    "signed_officer": ("签名警员", "signed officer"),
    "ledger_holder": ("台账领用人", "ledger holder"),
    "no_mismatches": ("没有台账不符的录像。", "No session contradicts the ledger."),
    "retention": ("保存期限", "Retention periods"),
    "class_ordinary": ("一般录像", "ordinary"),
    "class_marked": ("有标记的录像", "marked"),
    "class_case": ("关联案件的录像", "linked to a case"),
    "class_grace": ("宽限期", "grace"),
    "days": ("天（none 为不限）", "days ('none': without end)"),
    "set": ("保存", "Set"),
    "refused_dockings": ("被拒绝的对接", "Refused dockings"),
    "acknowledged": ("确认", "Acknowledged"),
    "ack_reason": ("核查结果及理由", "what was found, and why it may rest"),
    "acknowledge": ("确认", "Acknowledge"),
    "no_refusals": ("没有被拒绝的对接。", "No refused docking."),
    "inspections": ("抽检", "Sample inspections"),
    "inspection_draw": ("抽取样本", "Draw a sample"),
    "inspection_draw_help": ("按单位、民警、时段从录像中随机抽取；随机种子与条件一并记录，同一种子可复现同一结果。",
                             "Drawn at random by unit, officer and period; the seed and criteria are recorded, "
                             "and the same seed gives the same sessions again."),
    "inspection_since": ("开始日期", "From (day)"),
    "inspection_until": ("结束日期", "To (day)"),
    "inspection_count": ("抽取数量", "Count"),
    "inspection_share": ("抽取比例（%）", "Share (%)"),
    "inspection_seed": ("随机种子", "Seed"),
    "inspection_do_draw": ("抽取", "Draw"),
    "inspection_draws": ("抽检记录", "Draws"),
    "inspection_no_draws": ("尚无抽检。", "No draw yet."),
    "inspection_drawn_by": ("抽取人", "Drawn by"),
    "inspection_drawn": ("抽取时间", "Drawn"),
    "inspection_sampled": ("抽中 / 候选", "Sampled / candidates"),
    "inspection_method": ("抽取方法：按 SHA-256（随机种子 + 换行 + 录像编号）排序，取前若干个。",
                          "Method: sessions ordered by SHA-256(seed, a line feed, session id); the first ones taken."),
    "inspection_ledger": ("检查台账", "Inspection ledger"),
    "inspection_officer": ("警员（警号）", "Officer (police number)"),
    "inspection_verdict": ("结论", "Verdict"),
    "inspection_by": ("检查人", "Inspected by"),
    "inspection_note": ("说明", "Note"),
    "inspection_state": ("核验", "Verification"),
    "inspection_record": ("提交检查结果", "Record the finding"),
}


CODES: dict[str, dict[str, tuple[str, str]]] = {
    "stop": {       # why a recording stopped: the session-close record's reason, by its code
        "end_of_enforcement": ("执法结束", "the enforcement ended"),
        "witness_request": ("当事人、证人要求", "a witness or victim asked"),
        "covert_measures": ("秘密侦查措施", "covert investigation measures"),
        "public_transport": ("公共交通工具", "on public transport"),
        "secrets_privacy": ("国家秘密、商业秘密、个人隐私", "state or commercial secrets, or privacy"),
        "weather": ("天气原因", "weather"),
        "other": ("其他原因", "another reason"),
        "unspecified": ("未选择原因", "no reason chosen"),
        "duration reached": ("达到单段录制时长", "duration reached"),
        "stop requested": ("停止录制", "stop requested"),
        "battery": ("电量耗尽", "battery exhausted"),
        "shutdown": ("设备关机", "the device shut down"),
        "fault": ("设备故障", "fault"),
    },
    "segment": {    # a segment's verification state (evidence.verify); in English, its code
        "OK": ("完好", "OK"), "RECOVERED": ("断电后恢复", "RECOVERED"), "TAMPERED": ("被篡改", "TAMPERED"),
        "UNSIGNED": ("未签名", "UNSIGNED"), "MISSING": ("缺失", "MISSING"), "FOREIGN": ("非本会话", "FOREIGN"),
        "UNKNOWN-KEY": ("未知密钥", "UNKNOWN-KEY"), "OUT-OF-ORDER": ("顺序错乱", "OUT-OF-ORDER"),
    },
    "role": {code: TEXT[f"role_{code}"] for code in ("custodian", "reviewer", "supervisor", "administrator")},
    "bay": {code: TEXT[f"bay_{code}"] for code in ("idle", "authenticating", "pulling", "verifying", "done",
                                                   "refused", "error")},
    "export": {code: TEXT[f"state_{code}"] for code in ("requested", "approved", "made", "refused")},
    "outcome": {"done": TEXT["outcome_done"], "refused": TEXT["outcome_refused"]},
    "level": {"secret": ("国家秘密", "secret"), "commercial-secret": ("商业秘密", "commercial secret"),
              "private": ("个人隐私", "private")},
    "scope": {"session": ("录像", "session"), "range": ("录像时间段", "time range"), "case": ("案件", "case")},
    "action": {     # in English, the code the trail stores (the filters take it)
        "login": ("登录", "login"), "logout": ("退出", "logout"),
        "login-lockout": ("登录锁定", "login-lockout"), "login-unlock": ("解除登录锁定", "login-unlock"),
        "search": ("检索", "search"), "show": ("查看会话信息", "show"), "view": ("查看录像", "view"),
        "csrf": ("表单校验失败", "csrf"),
        "user": ("用户管理", "user"), "user-add": ("添加用户", "user-add"), "user-list": ("查看用户", "user-list"),
        "user-password": ("修改密码", "user-password"), "user-role": ("修改角色", "user-role"),
        "user-enable": ("启用用户", "user-enable"), "user-disable": ("停用用户", "user-disable"),
        "mark-confidential": ("设定密级", "mark-confidential"),
        "clear-confidential": ("解除密级", "clear-confidential"),
        "export-request": ("申请导出", "export-request"), "export-approve": ("批准导出", "export-approve"),
        "export-refuse": ("拒绝导出", "export-refuse"), "export-decide": ("审批导出", "export-decide"),
        "export-make": ("制作导出包", "export-make"), "export-handover": ("移交导出包", "export-handover"),
        "ledger": ("查看台账", "ledger"),
        "audit-verify": ("审计日志校验", "audit-verify"), "audit-show": ("查看审计日志", "audit-show"),
        "audit-export": ("导出审计日志", "audit-export"),
        "case-opened": ("立案", "case-opened"), "case-linked": ("关联案件", "case-linked"),
        "case-closed": ("结案", "case-closed"), "case-show": ("查看案件", "case-show"),
        "hold-placed": ("设置法律保全", "hold-placed"), "hold-released": ("解除法律保全", "hold-released"),
        "retention": ("查看保存期限", "retention"), "retention-set": ("设置保存期限", "retention-set"),
        "purge": ("清除到期录像", "purge"), "expired": ("到期清除", "expired"),
        "rebuild": ("重建目录", "rebuild"),
        "enroll": ("登记设备", "enroll"), "device-enrol": ("登记设备", "device-enrol"),
        "device-assigned": ("设备领用", "device-assigned"), "device-returned": ("设备归还", "device-returned"),
        "pending": ("查看待补说明", "pending"), "write-up": ("提交情况说明", "write-up"),
        "pull": ("采集", "pull"), "docking-refused": ("拒绝对接", "docking-refused"),
        "witness-ack": ("确认被拒绝的对接", "witness-ack"),
        "verify": ("重新核验", "verify"), "store-init": ("初始化中心存储", "store-init"),
        "store-push": ("上传中心存储", "store-push"),
    },
    "field": {      # the fields of an audit entry's detail
        "criteria": ("检索条件", "criteria"), "officer": ("警员", "officer"), "device": ("设备", "device"),
        "unit": ("单位", "unit"), "date": ("日期", "date"), "since": ("起", "since"), "until": ("止", "until"),
        "case": ("案件", "case"), "marker": ("标记", "marker"), "marked": ("有标记", "marked"),
        "label": ("标记名称", "label"), "stop": ("停止原因", "stop reason"), "clock": ("时钟", "clock"),
        "previous": ("续接会话", "resumes"), "purged": ("含已清除", "purged included"),
        "state": ("状态", "state"), "start_ns": ("起始时间", "from"), "end_ns": ("结束时间", "until"),
        "from_ns": ("起始时间", "from"), "until_ns": ("结束时间", "until"), "at_ns": ("时间", "at"),
        "sessions": ("会话数", "sessions"), "files": ("文件", "files"), "problems": ("问题数", "problems"),
        "entries": ("记录数", "entries"), "device_key": ("设备密钥", "device key"), "package": ("导出包", "package"),
        "scope": ("范围", "scope"), "target": ("对象", "target"), "recipient": ("制作人", "recipient"),
        "destination": ("提供给", "for"), "note": ("备注", "note"), "level": ("密级", "level"),
        "role": ("角色", "role"), "name": ("名称", "name"), "party": ("当事人", "party"), "hold": ("保全编号", "hold"),
        "days": ("天数", "days"), "class": ("类别", "class"), "user": ("用户", "user"), "address": ("地址", "address"),
        "reason": ("理由", "reason"), "taken_by": ("接收人", "taken by"), "police_number": ("警号", "police number"),
        "number": ("编号", "number"), "failures": ("失败次数", "failures"), "until_s": ("锁定至", "locked until"),
        "why": ("原因", "why"),
    },
}

# The evidence verifier's sentences (evidence/verify.py) and their Chinese; a sentence not here
# is shown as written.
DETAILS: list[tuple[re.Pattern[str], str]] = [(re.compile(pattern), zh) for pattern, zh in (
    (r"^the header \(init\) differs from what was sealed \(bytes (\d+)\.\.(\d+)\)$",
     r"文件头（init）与签名封存时不一致（字节 \1..\2）"),
    (r"^fragment (\d+) differs from what was sealed \(bytes (\d+)\.\.(\d+)\)$",
     r"第 \1 个分片与签名封存时不一致（字节 \2..\3）"),
    (r"^(\w+) (\d+) differs from what was sealed \(bytes (\d+)\.\.(\d+)\)$",
     r"\1 \2 与签名封存时不一致（字节 \3..\4）"),
    (r"^truncated at byte (\d+): fragment (\d+) and after are cut \((\d+) bytes missing\)$",
     r"文件在第 \1 字节处被截断：第 \2 个分片及以后缺失（缺 \3 字节）"),
    (r"^truncated at byte (\d+): (\w+) (\d+) and after are cut \((\d+) bytes missing\)$",
     r"文件在第 \1 字节处被截断：\2 \3 及以后缺失（缺 \4 字节）"),
    (r"^(\d+) bytes were added after the sealed end$", r"签名封存的结尾之后被追加了 \1 字节"),
    (r"^the file differs from what was sealed$", "文件与签名封存时不一致"),
    (r"^its manifest's signature does not hold$", "其清单的签名无效"),
    (r"^no manifest seals this file$", "没有清单封存此文件"),
    (r"^the session has no readable open record$", "会话缺少可读的开始记录"),
    (r"^the video file was deleted; its manifest remains$", "视频文件已被删除，其清单仍在"),
    (r"^the chain names it; it was deleted$", "签名链记载了此分段，但它已被删除"),
    (r"^it does not follow the segment before it in the chain$", "它在签名链中不接续前一分段"),
    (r"^its frame index was deleted$", "其帧索引已被删除"),
    (r"^its frame index differs from what was sealed$", "其帧索引与签名封存时不一致"),
    (r"^released after upload \(receipt from dock (\w+)\)$", r"上传后已释放（采集站 \1 出具回执）"),
    (r"^renamed: it was sealed as (\S+)$", r"被改名：封存时名为 \1"),
    (r"^it was sealed as segment (\d+)$", r"封存时为第 \1 段"),
    (r"^its video is now (\S+) \(files swapped or renamed\)$", r"其视频现为 \1（文件被调换或改名）"),
    (r"^sealed for session (\S+)$", r"封存于会话 \1"),
    (r"^sealed by device (\S+), not (\S+)$", r"由设备 \1 封存，而非 \2"),
    (r"^signed by key (\w+), which is not trusted$", r"由不受信任的密钥 \1 签名"),
    (r"^(\d+) bytes after the sealed end hold (\d+) complete fragment\(s\) that no seal covers \(a player shows "
     r"them\)$", r"签名封存的结尾之后的 \1 字节含 \2 个完整分片，未被任何签名覆盖（播放器会显示它们）"),
    (r"^(\d+) bytes after the sealed end hold no complete fragment: cut by the power loss, not evidence$",
     r"签名封存的结尾之后的 \1 字节不含完整分片：为断电截断所致，不作为证据"),
    (r"^MISSING (\S+) record$", r"缺少 \1 记录"),
    (r"^the close record's last segment is not the last segment found$", "结束记录所载的最后一段不是找到的最后一段"),
    (r"^the close record does not follow the open record$", "结束记录不接续开始记录"),
)]


def translator(lang: str) -> Callable[[str], str]:
    column = LANGUAGES.index(lang) if lang in LANGUAGES else 0
    return lambda key: TEXT[key][column]


def label(kind: str, code: str, lang: str) -> str:
    """The label of a stored code (``kind``: stop, segment, role, bay, export, outcome, level,
    scope, action, field); a code without one is shown as it is. A stop reason's own words after its code
    (``weather: heavy rain``) follow its label."""
    column = LANGUAGES.index(lang) if lang in LANGUAGES else 0
    code, colon, rest = code.partition(":") if kind == "stop" else (code, "", "")
    found = CODES[kind].get(code.strip())
    shown = found[column] if found else code
    return f"{shown}{'：' if column == 0 else ': '}{rest.strip()}" if colon and rest.strip() else shown


def detail(text: str, lang: str) -> str:
    """A verification detail (``evidence.verify``'s English sentence) in ``lang``."""
    if lang != "zh":
        return text
    for pattern, zh in DETAILS:
        if pattern.match(text):
            return pattern.sub(zh, text)
    return text


def fields(values: dict[str, Any], lang: str, when: Callable[[int], str]) -> list[tuple[str, str]]:
    """An audit entry's detail as (label, value) pairs a person reads: times (``*_ns``) through
    ``when``, nested fields as ``label: value`` joined, lists joined, nothing left out (None: "-")."""
    return [(label("field", key, lang), _value(key, value, lang, when)) for key, value in values.items()]


def _value(key: str, value: Any, lang: str, when: Callable[[int], str]) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return "；".join(f"{name}：{shown}" if lang == "zh" else f"{name}: {shown}"
                        for name, shown in fields(value, lang, when)) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(_value(key, item, lang, when) for item in value) or "-"
    if isinstance(value, bool):
        return ("是" if value else "否") if lang == "zh" else ("yes" if value else "no")
    if key.endswith("_ns") and isinstance(value, int):
        return when(value)
    return str(value)
