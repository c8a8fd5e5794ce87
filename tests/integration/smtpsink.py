# SPDX-License-Identifier: MIT
"""An SMTP sink for tests: aiosmtpd accepting every message into a maildir directory.

Each message is written atomically as MAILDIR/NNNN.eml (the bytes as received) after
its envelope MAILDIR/NNNN.json (mail_from, rcpt_tos, tls, auth_user, peer, plus the decoded
From/To/Subject/body as Python's email package reads them, so tests written in C get
an independent decoder). The .json lands first, so whoever sees NNNN.eml finds both.

As a script it prints "ready" once listening and runs until SIGTERM/SIGINT, or until
the process it watches goes away (--watch-pid, default its parent), so a crashed
test never leaves a sink behind:

    /usr/bin/python3 smtpsink.py --host 127.0.0.1 --port P --maildir DIR \
        [--tls-cert C --tls-key K] [--require-starttls]
        [--auth-user U --auth-password P [--require-auth]] [--watch-pid PID]

As a module: SmtpSink(host, port, maildir, ...).start() / .messages() / .wait_for(n) /
.stop(), also usable as a context manager.
"""

import argparse
import email
import email.policy
import json
import os
import signal
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

# Refuse anything bigger: a test sink has no business storing more.
MAX_MESSAGE = 10 * 1024 * 1024


def _decoded_body(msg):
    """The text/plain body as str (quoted-printable/base64 undone), or None."""
    try:
        part = msg.get_body(preferencelist=("plain",)) if msg.is_multipart() else msg
        text = part.get_content() if part is not None else None
    except (KeyError, LookupError, ValueError):
        return None
    # The email package keeps the wire's CRLF; tests compare with "\n" text.
    return text.replace("\r\n", "\n") if isinstance(text, str) else None


class _Handler:
    """Stores each message as the next NNNN.json + NNNN.eml pair in maildir."""

    def __init__(self, maildir):
        self.maildir = maildir
        self.lock = threading.Lock()
        self.count = len(_eml_names(maildir))

    @staticmethod
    def _write_atomic(path, data):
        tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)

    def _envelope(self, session, envelope, raw):
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        return {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": session.ssl is not None,
            "auth_user": (session.login_data.decode("utf-8", "replace")
                          if session.authenticated and session.login_data else None),
            "peer": list(session.peer) if session.peer else None,
            "from": str(msg["From"]) if msg["From"] is not None else None,
            "to": str(msg["To"]) if msg["To"] is not None else None,
            "subject": str(msg["Subject"]) if msg["Subject"] is not None else None,
            "body": _decoded_body(msg),
        }

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or b""
        if len(raw) > MAX_MESSAGE:
            return "552 Message too big for the test sink"
        info = self._envelope(session, envelope, raw)
        with self.lock:
            self.count += 1
            base = os.path.join(self.maildir, "%04d" % self.count)
        self._write_atomic(base + ".json", json.dumps(info, indent=1).encode() + b"\n")
        self._write_atomic(base + ".eml", raw)
        return "250 Message accepted for delivery"


class _Authenticator:
    """Accepts exactly one user/password pair (AUTH is only offered under TLS)."""

    def __init__(self, user, password):
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == self.user
              and auth_data.password == self.password)
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


def _eml_names(maildir):
    return sorted(n for n in os.listdir(maildir) if n.endswith(".eml") and n[0] != ".")


class SmtpSink:
    """A running aiosmtpd sink on host:port that stores mail in maildir."""

    def __init__(self, host, port, maildir, tls_cert=None, tls_key=None,
                 require_starttls=False, auth=None, require_auth=False):
        """auth=(user, password) offers AUTH PLAIN/LOGIN after STARTTLS and accepts
        only that pair; require_auth refuses mail from unauthenticated sessions."""
        os.makedirs(maildir, exist_ok=True)
        self.host, self.port, self.maildir = host, port, maildir
        tls_context = None
        if tls_cert:
            tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls_context.load_cert_chain(tls_cert, tls_key or tls_cert)
        elif require_starttls:
            raise ValueError("require_starttls needs tls_cert")
        if require_auth and not auth:
            raise ValueError("require_auth needs auth")
        self.handler = _Handler(maildir)
        extra = {}
        if auth:
            extra = {"authenticator": _Authenticator(*auth), "auth_required": require_auth}
        self.controller = Controller(self.handler, hostname=host, port=port,
                                     tls_context=tls_context,
                                     require_starttls=require_starttls,
                                     data_size_limit=MAX_MESSAGE, **extra)
        self.running = False

    def start(self):
        self.controller.start()
        self.running = True
        return self

    def stop(self):
        if self.running:
            self.controller.stop()
            self.running = False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def paths(self):
        """Paths of the stored .eml files, oldest first."""
        return [os.path.join(self.maildir, n) for n in _eml_names(self.maildir)]

    def messages(self):
        """The stored messages as email.message.EmailMessage (a Message subclass)."""
        out = []
        for path in self.paths():
            with open(path, "rb") as f:
                out.append(email.message_from_bytes(f.read(), policy=email.policy.default))
        return out

    def envelopes(self):
        """The side files as dicts, in the order of messages()."""
        out = []
        for path in self.paths():
            with open(path[:-4] + ".json", encoding="utf-8") as f:
                out.append(json.load(f))
        return out

    def wait_for(self, n, timeout=10.0):
        """Waits until at least n messages are stored; returns messages() (which may
        hold fewer than n when the timeout ran out)."""
        end = time.monotonic() + timeout
        while len(_eml_names(self.maildir)) < n and time.monotonic() < end:
            time.sleep(0.02)
        return self.messages()


def _is_alive(pid):
    if pid <= 1:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--require-starttls", action="store_true")
    p.add_argument("--auth-user", help="offer AUTH after STARTTLS, accepting this user")
    p.add_argument("--auth-password", default="")
    p.add_argument("--require-auth", action="store_true")
    p.add_argument("--watch-pid", type=int,
                   help="exit when this process is gone (default: the parent)")
    return p.parse_args(argv)


def main(argv=None):
    args = _parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    watch = args.watch_pid or os.getppid()
    auth = (args.auth_user, args.auth_password) if args.auth_user else None
    sink = SmtpSink(args.host, args.port, args.maildir, args.tls_cert, args.tls_key,
                    args.require_starttls, auth, args.require_auth).start()
    try:
        print("ready", flush=True)
        # Poll for the test's death: when a test crashes the sink must not linger.
        while not stop.wait(0.2):
            if not _is_alive(watch):
                break
    finally:
        sink.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
