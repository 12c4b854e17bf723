"""Staff sign-in (OpenID Connect and WeCom), sessions and the directory check."""
