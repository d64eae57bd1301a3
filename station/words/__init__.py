"""Every word a user reads: the labels of codes (``labels``), the command line's messages
(``messages``, gettext) and the station's time zone (``zone``). Imports nothing of the station."""
