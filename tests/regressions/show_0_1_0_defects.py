"""Each core-v2 defect, shown on ccg 0.1.0 (run with PYTHONPATH pointing at the old tree)."""
import gzip, http.server, resource, socket, threading, time, zlib, sys
import msgspec
from ccg import *
from ccg.testing import FakeClock, FakeTransport, token_reply, json_reply
from ccg.core import HttpReply
TOKEN_URL = "https://as.example/token"
def creds(**kw): return ClientCredentialsAuthCredentials(o_auth_client_id="id", o_auth_client_secret="s", **kw)
def client(t, clock=None, **kw):
    return ApiClient(client_credentials_auth_credentials=creds(**kw), token_url=TOKEN_URL, transport=t, clock=clock or FakeClock())
def herd(n, f):
    out=[]; lock=threading.Lock(); b=threading.Barrier(n)
    def run():
        b.wait()
        try: r=f()
        except BaseException as e: r=e
        with lock: out.append(r)
    ts=[threading.Thread(target=run, daemon=True) for _ in range(n)]
    [t.start() for t in ts]; [t.join(20) for t in ts]
    return out
def kinds(rs):
    import collections
    return dict(collections.Counter(type(r).__name__ + ("<-" + type(r.__cause__).__name__ if isinstance(r, BaseException) and r.__cause__ else "") for r in rs))

print("== defect 1: gzip bomb through the real Urllib3Transport (limit 1 MiB)")
bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
body = b"".join(bomb.compress(b"\0" * (1 << 20)) for _ in range(200)) + bomb.flush()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Encoding", "gzip"); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H); threading.Thread(target=srv.serve_forever, daemon=True).start()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
c = ApiClient(client_credentials_auth_credentials=creds(), token_url=f"http://127.0.0.1:{srv.server_port}/token")
try: c.get("http://127.0.0.1:1/x")
except Exception as e: print("  error:", type(e).__name__, str(e)[:90])
print(f"  compressed {len(body)//1024} KiB; peak RSS growth {(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss-before)//1024} MiB")
srv.shutdown()

print("== defect 2: 64 threads, a token body nested 1,000 deep")
nested = b'{"access_token":"t","x":' + b"[" * 1000 + b"]" * 1000 + b"}"
n=[0]
def deep(r):
    n[0]+=1; time.sleep(0.3); return HttpReply(status=200, body=nested)
c = client(FakeTransport(handler=deep))
print("  requests:", (rs := herd(64, c.auth_manager.token)) and n[0], "outcomes:", kinds(rs))
print("== defect 2: 64 threads, a transport raising RuntimeError")
n=[0]
def boom(r):
    n[0]+=1; time.sleep(0.3); raise RuntimeError("bug")
c = client(FakeTransport(handler=boom)); rs = herd(64, c.auth_manager.token)
print("  requests:", n[0], "outcomes:", kinds(rs))
print("== defect 2: 64 threads, a provider returning OAuthToken(access_token=12345)")
n=[0]
def prov(last, m):
    n[0]+=1; time.sleep(0.3); return msgspec.structs.replace(OAuthToken(access_token="x"), access_token=12345)
c = client(FakeTransport(), o_auth_token_provider=prov); rs = herd(64, c.auth_manager.token)
print("  provider calls:", n[0], "outcomes:", kinds(rs))

print("== defect 3: KeyboardInterrupt from flight 1's callback while flight 2 is in flight")
in_cb, raise_now, second_sent, release = threading.Event(), threading.Event(), threading.Event(), threading.Event()
inflight=[0]; most=[0]; lock=threading.Lock(); reqs=[0]
def ans(r):
    with lock:
        reqs[0]+=1; k=reqs[0]; inflight[0]+=1; most[0]=max(most[0], inflight[0])
    try:
        if k == 2: second_sent.set(); release.wait(10)
        return token_reply(f"t{k}")
    finally:
        with lock: inflight[0]-=1
def upd(t):
    if t.access_token == "t1":
        in_cb.set(); raise_now.wait(10); raise KeyboardInterrupt
c = client(FakeTransport(handler=ans), o_auth_on_token_update=upd); m = c.auth_manager
def call():
    try: m.token()
    except BaseException: pass
a=threading.Thread(target=call, daemon=True); a.start(); in_cb.wait(10); m.set_token(None)
b=threading.Thread(target=call, daemon=True); b.start(); second_sent.wait(10); raise_now.set(); a.join(10)
c3=threading.Thread(target=call, daemon=True); c3.start(); time.sleep(0.3)
print("  token requests while flight 2 still in flight:", reqs[0], "(1 flight => 2); most at once:", most[0])
release.set(); b.join(10); c3.join(10)
print("== defect 3: o_auth_token = None inside the callback")
t = FakeTransport([token_reply("t1"), token_reply("t2")]); holder=[]
def upd2(tok):
    if tok.access_token == "t1": holder[0].o_auth_token = None
c = client(t, o_auth_on_token_update=upd2); holder.append(c.auth_manager)
print("  the caller got:", c.auth_manager.authorization_header(), "; held now:", c.auth_manager.o_auth_token)

print("== defect 4: wall clock set back 1 h after the token's hour")
clock = FakeClock(); t = FakeTransport([token_reply("a", expires_in=3600), json_reply(200, {}), token_reply("b"), json_reply(200, {})])
c = client(t, clock); c.get("https://api.example/x"); clock.advance(3600); clock.set(clock() - 3600); c.get("https://api.example/x")
print("  sent:", [r.header("Authorization") for r in t.requests if "api" in r.url])
print("== defect 4: wall clock 3 days fast during the fetch, then corrected, 1 h later")
clock = FakeClock(); t = FakeTransport([token_reply("a", expires_in=3600), json_reply(200, {}), token_reply("b"), json_reply(200, {})])
c = client(t, clock); clock.set(clock() + 3 * 86400); c.get("https://api.example/x"); clock.set(clock() - 3 * 86400); clock.advance(3600); c.get("https://api.example/x")
print("  sent:", [r.header("Authorization") for r in t.requests if "api" in r.url])

print("== defect 5: 8 waiters behind an owner whose token request hangs 6 s")
go = threading.Event()
def hang(r):
    go.set(); time.sleep(6); return token_reply("late")
c = ApiClient(client_credentials_auth_credentials=creds(), token_url=TOKEN_URL, transport=FakeTransport(handler=hang))
threading.Thread(target=c.auth_manager.token, daemon=True).start(); go.wait(5)
s = time.monotonic(); rs = herd(8, c.auth_manager.token)
print(f"  waiters returned after {time.monotonic()-s:.1f} s with", kinds(rs))

print("== defect 6: provider tokens that skip the checks")
for bad in ("", "a\r\n\tfolded", "Sup3rS3cret\n"):
    t = FakeTransport([json_reply(200, {})]); c = client(t, o_auth_token_provider=lambda l, m, bad=bad: OAuthToken(access_token=bad))
    try:
        c.get("https://api.example/x"); print("  sent Authorization:", repr(t.requests[-1].header("Authorization")))
    except Exception as e: print("  raised", type(e).__name__, "secret in message:", "Sup3rS3cret" in str(e))
clock = FakeClock(); t = FakeTransport([json_reply(200, {})]*3)
c = client(t, clock, o_auth_token=OAuthToken(access_token="n", expiry=float("nan"))); clock.advance(10 * 365 * 86400); c.get("https://api.example/x")
print("  expiry=nan, ten years later, still sent:", t.requests[-1].header("Authorization"))

print("== defect 7: two clients from one credentials object")
shared = creds(); t1 = FakeTransport([token_reply("one"), json_reply(200, {})]); t2 = FakeTransport([token_reply("two"), json_reply(200, {})])
c1 = ApiClient(client_credentials_auth_credentials=shared, token_url="https://as-one.example/token", transport=t1, clock=FakeClock())
c2 = ApiClient(client_credentials_auth_credentials=shared, token_url="https://as-one.example/token", transport=t2, clock=FakeClock())
try: c2.get("https://api.example/x")
except Exception as e: print("  c2 raised", type(e).__name__)
print("  second client's transport got:", [r.url for r in t2.requests], "; first's:", [r.url for r in t1.requests])

print("== defect 8: fetch_token()")
c = client(FakeTransport([token_reply("z", expires_in=0), token_reply("z", expires_in=0)]))
try: print("  expires_in=0 by hand ->", c.auth_manager.fetch_token())
except Exception as e: print("  by hand raised", type(e).__name__)
try: c.auth_manager.token()
except Exception as e: print("  automatic raised", type(e).__name__)
t = FakeTransport([token_reply("g")]); c = client(t)
c.auth_manager.fetch_token({"grant_type": "password"}); print("  body:", t.requests[0].body)
try: client(FakeTransport([token_reply("g")])).auth_manager.fetch_token({"audience": 5})
except Exception as e: print("  audience=5 raised", type(e).__name__, e)
