"""`cdp wechat push-sandbox`, and the sandbox `cdp serve` starts under CDP_WECHAT_SANDBOX."""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import quote

import httpx
import typer

from cdp.cli.common import app, settings_or_exit
from cdp.cli.server import refuse_in_production
from cdp.config import Settings
from cdp.config_models import WechatAppType
from cdp.devwechat.fake import OA_APP_ID, WechatUser
from cdp.devwechat.pusher import SandboxEvent, SignedPush, event_fields, send_push, signed_push
from cdp.devwechat.sandbox import sandbox_apps, stand_in_url, start_stand_in

wechat_app = typer.Typer(help="WeChat: the development sandbox.", no_args_is_help=True)
app.add_typer(wechat_app, name="wechat")
SANDBOX_PERSON = "小王"


def start_sandbox(settings: Settings, cdp_url: str) -> None:
    """Start the WeChat stand-in for `cdp serve` and say how to walk each sign-in."""
    try:
        start_stand_in(settings)
    except (OSError, RuntimeError) as exc:
        typer.echo(
            f"cdp: the WeChat sandbox cannot listen on {stand_in_url(settings)}"
            f" (CDP_WECHAT_SANDBOX_PORT): {exc}",
            err=True,
        )
        raise typer.Exit(2) from None
    base = stand_in_url(settings)
    typer.echo(f"cdp: WeChat sandbox on {base} (development only; not WeChat)")
    person = quote(SANDBOX_PERSON)
    for app_id, wechat_app_ in sandbox_apps(settings).items():
        kind = wechat_app_.type
        if kind is WechatAppType.MINI_PROGRAM:
            typer.echo(
                f"  mini-program {app_id}: GET {base}/sandbox/wx.login?appid={app_id}"
                f"&person={person} gives a code; POST it to {cdp_url}/auth/wechat/mini-program"
            )
        elif kind is WechatAppType.OFFICIAL_ACCOUNT:
            typer.echo(
                f"  official account {app_id}: open"
                f" {cdp_url}/auth/wechat/official-account/authorize?appId={app_id}"
            )
        else:
            typer.echo(
                f"  website {app_id}: open {cdp_url}/auth/wechat/website/authorize?appId={app_id}"
            )
    typer.echo("  message push: cdp wechat push-sandbox subscribe --app APPID --person NAME")


@wechat_app.command("push-sandbox")
def push_sandbox(
    event: Annotated[
        SandboxEvent,
        typer.Argument(help="subscribe, unsubscribe, SCAN, CLICK, VIEW, subscribe_msg_popup_event"),
    ],
    app_id: Annotated[str, typer.Option("--app", help="The app's AppID.")] = OA_APP_ID,
    person: Annotated[
        str, typer.Option(help="The sandbox person (the name given at sign-in).")
    ] = SANDBOX_PERSON,
    open_id: Annotated[str | None, typer.Option(help="An OpenID instead of a person.")] = None,
    key: Annotated[
        str | None,
        typer.Option(
            help="The menu key (CLICK), URL (VIEW), QR scene, or the template id accepted "
            "(subscribe_msg_popup_event)."
        ),
    ] = None,
    url: Annotated[str, typer.Option(help="Where cdp serves.")] = "http://127.0.0.1:8000",
    as_json: Annotated[
        bool | None, typer.Option("--json/--xml", help="Body format (mini-programs: JSON).")
    ] = None,
) -> None:
    """Send cdp a message push as WeChat's server would: signed with the app's Token, in
    safe mode when it has an EncodingAESKey. Development only."""
    settings = settings_or_exit()
    refuse_in_production(settings, "wechat push-sandbox")
    app_ = sandbox_apps(settings).get(app_id)
    if app_ is None or app_.token is None:
        typer.echo(f"cdp: {app_id} is not an app with message push (a token)", err=True)
        raise typer.Exit(2)
    who = open_id or WechatUser.named(person[:40]).open_id(app_id)
    json_body = as_json if as_json is not None else app_.type is WechatAppType.MINI_PROGRAM
    fields = event_fields(event, who, key=key, as_json=json_body)
    push = signed_push(app_id, app_, fields, as_json=json_body)
    try:
        response = asyncio.run(_send(url, app_id, push))
    except httpx.HTTPError as exc:
        typer.echo(f"cdp: cdp is not answering at {url}: {type(exc).__name__}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"cdp: {event.value} from {who} to {app_id}: {response.status_code} {response.text[:300]}"
    )
    if response.status_code != 200:
        raise typer.Exit(1)


async def _send(url: str, app_id: str, push: SignedPush) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return await send_push(client, app_id, push)
