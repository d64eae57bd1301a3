"""The dock link's line rates, apart from the link itself so that a configuration can check
one without loading the serial port's and the framing's modules (the recorder checks its
configuration at every start)."""

DEFAULT_BAUDRATE = 115200
# The rates a UART dock link may be set to: those with a termios constant of their own on
# Linux (a Pi's PL011 takes up to 4,000,000). A CDC-ACM gadget ignores the rate.
BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600,
             1000000, 1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000)
