"""Run livegen's CLI in this process with an audit hook that refuses network sockets.

    python tests/netaudit.py ARGS...   (the arguments of ``livegen``)

Any attempt to create an AF_INET/AF_INET6 socket, or to connect or bind one, ends the run
with status 99 naming what was tried. At exit, sockets opened by C libraries are checked
too: every socket among the process's open files must be a UNIX socket (JACK and ALSA use
those), none an internet one.
"""

import os
import socket
import sys

INET = (socket.AF_INET, socket.AF_INET6)


def hook(event, args):
    if event == "socket.__new__" and args[1] in INET:
        os.write(2, f"netaudit: livegen created a network socket {args}\n".encode())
        os._exit(99)
    if event in ("socket.connect", "socket.bind", "socket.sendto") and args[0].family in INET:
        os.write(2, f"netaudit: livegen used a network socket: {event} {args[1:]}\n".encode())
        os._exit(99)


def inet_inodes() -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
        try:
            with open(f"/proc/self/net/{table}") as fh:
                inodes.update(line.split()[9] for line in list(fh)[1:])
        except OSError:
            pass
    return inodes


def open_socket_inodes() -> set[str]:
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


if __name__ == "__main__":
    sys.addaudithook(hook)
    from livegen.cli import main
    status = main(sys.argv[1:])
    leaked = open_socket_inodes() & inet_inodes()
    if leaked:
        print(f"netaudit: internet sockets open at exit: {sorted(leaked)}", file=sys.stderr)
        sys.exit(99)
    sys.exit(status)
