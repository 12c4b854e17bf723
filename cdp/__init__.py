"""cdp: one account per person across a brand's WeChat apps, with personal data protected."""
