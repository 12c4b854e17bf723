"""Website sign-in by phone and SMS code, against a Tencent Cloud SMS stand-in on loopback."""
