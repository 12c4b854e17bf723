"""Website sign-in by phone and SMS code: the SMS provider (Tencent Cloud SMS), the codes."""
