"""A development stand-in for WeChat on loopback (the one the tests use), the sandbox that
wires cdp to it, and a sender of signed message pushes. Production refuses the sandbox."""
