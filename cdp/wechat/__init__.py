"""WeChat sign-in: a mini-program's wx.login code or an official account's OAuth code becomes a
customer session, through the identity graph."""
