"""What WeChat tells of a person's subscriptions: whether they follow an official account
(关注), and the one-time subscribe messages (一次性订阅消息) they accepted, per template."""
