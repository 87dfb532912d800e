"""When the gateway started a turn on disk: an inotify watch over the whole state dir (new
directories are watched as they appear), timestamped on arrival, for the two first signs of a
turn the recordings show: a `<transcript>.jsonl.lock` created (JSONL eras), or the store's
write-ahead log written (SQLite era: the user row is committed before the model is called).
ctypes, so the run needs nothing beyond Python; the stamps are the driver's reading time, so they
lag the kernel by the driver's scheduling delay (a few ms on a loaded 2-core machine)."""
import ctypes
import os
import select
import struct
import threading
import time

IN_MODIFY, IN_MOVED_TO, IN_CREATE, IN_ISDIR = 0x2, 0x80, 0x100, 0x40000000
SKIP = {"npm", "plugin-runtime-deps", "node_modules", "control-ui-assets", ".npm", "workspace", "logs"}
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def is_turn_sign(path, mask):
    name = os.path.basename(path)
    parent = os.path.basename(os.path.dirname(path))
    if name.endswith(".jsonl.lock") and parent == "sessions":
        return bool(mask & (IN_CREATE | IN_MOVED_TO))
    if name == "openclaw-agent.sqlite-wal" and parent == "agent":
        return bool(mask & (IN_CREATE | IN_MODIFY))
    return False


class TurnSigns:
    def __init__(self, root):
        self.fd = _libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.dirs, self.signs, self.lock = {}, [], threading.Lock()
        self.stop_flag = False
        self._add_tree(root)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _add_tree(self, top):
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if d not in SKIP]
            wd = _libc.inotify_add_watch(self.fd, dirpath.encode(), IN_CREATE | IN_MODIFY | IN_MOVED_TO)
            if wd >= 0:
                self.dirs[wd] = dirpath
            for f in filenames:  # made before the watch was in place: stamped now, late
                self._note(os.path.join(dirpath, f), IN_CREATE, time.time())

    def _note(self, path, mask, t):
        if is_turn_sign(path, mask):
            with self.lock:
                self.signs.append((int(t * 1000), path))

    def _loop(self):
        while not self.stop_flag:
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if not ready:
                continue
            t = time.time()
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                continue
            off = 0
            while off + 16 <= len(data):
                wd, mask, _cookie, n = struct.unpack_from("iIII", data, off)
                name = data[off + 16:off + 16 + n].rstrip(b"\0").decode(errors="replace")
                off += 16 + n
                path = os.path.join(self.dirs.get(wd, "?"), name)
                if mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO):
                    if name not in SKIP:
                        self._add_tree(path)
                else:
                    self._note(path, mask, t)

    def first_after(self, t_ms):
        """(ms, path) of the first turn sign at or after t_ms, or None."""
        with self.lock:
            return next(((t, p) for t, p in self.signs if t >= t_ms), None)

    def close(self):
        self.stop_flag = True
        self.thread.join(timeout=2)
        os.close(self.fd)
