"""Staff identity: WeCom and OpenID Connect sign-in, server-side sessions, the role map, and
service accounts. What it produces is the `Principal` the policy reads."""
