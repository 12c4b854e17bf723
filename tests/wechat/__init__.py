"""WeChat sign-in and the member-center page, against a fake WeChat on loopback."""
