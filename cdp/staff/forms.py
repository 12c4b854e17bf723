"""What the staff desk reads from a browser: small urlencoded forms (the console's forms and
fetches), the session's anti-CSRF token in a header or a field, the site a post came from;
and the short page a refused form post is answered with."""

from __future__ import annotations

import html
import secrets
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from cdp.config import Settings
from cdp.errors import CdpError, ErrorCode, bad_input
from cdp.json_body import RequestRefused, read_body
from cdp.staff.credentials import CSRF_HEADER
from cdp.staff.sessions import csrf_token_of
from cdp.staff.web import CONSOLE, redirect_base
from cdp.wechat.outcomes import NO_STORE, SignInFailed

MAX_FORM_BYTES = 4096
FORM = "application/x-www-form-urlencoded"


def wants_page(request: Request) -> bool:
    """A browser's form post (answered with a page or a redirect), not a fetch."""
    return "text/html" in request.headers.get("accept", "")


async def read_form(request: Request) -> dict[str, list[str]]:
    """A small urlencoded form (an empty body is an empty form); BAD_USER_INPUT otherwise."""
    try:
        body = await read_body(request, MAX_FORM_BYTES)
    except RequestRefused:
        raise bad_input(f"the form is larger than {MAX_FORM_BYTES} bytes") from None
    if not body.strip():
        return {}
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != FORM:
        raise bad_input(f"send the fields as a form ({FORM})")
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=16)
    except (UnicodeDecodeError, ValueError):
        raise bad_input("the form is not UTF-8 text of a few fields") from None


def one_field(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name, [])
    if len(values) > 1:
        raise bad_input(f"give {name} once", field=name)
    return values[0] if values else None


def check_csrf(request: Request, token: str, form: dict[str, list[str]]) -> None:
    given = request.headers.get(CSRF_HEADER) or one_field(form, "csrf") or ""
    if not secrets.compare_digest(given.encode(), csrf_token_of(token).encode()):
        raise CdpError(
            ErrorCode.FORBIDDEN,
            f"A staff session's writes need its {CSRF_HEADER} header or csrf field",
            reason="CSRF",
        )


def page_refusal(request_id: str, failed: SignInFailed) -> Response:
    reason = failed.extensions.get("reason")
    particulars = f"{failed.code.value}{' / ' + str(reason) if reason else ''}"
    page = (
        '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>未完成</title>'
        f"<h1>未完成 · Refused</h1><p>{html.escape(failed.message)}</p>"
        f"<p><code>{html.escape(particulars)}</code> · request {html.escape(request_id)}</p>"
        f'<p><a href="{CONSOLE}">返回控制台 · Back to the console</a></p></html>'
    )
    return HTMLResponse(page, failed.status, headers={**NO_STORE, "x-request-id": request_id})


def check_same_origin(request: Request, settings: Settings) -> None:
    """Refuse a post another site made a browser send. A browser names the posting site in
    `Sec-Fetch-Site`, else in `Origin` (which a no-referrer page sends as `null`, so it is
    read only without the first); a client sending neither is not a browser (curl)."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    own = {f"{request.url.scheme}://{request.url.netloc}", redirect_base(settings, request)}
    if site is not None:
        refused = site != "same-origin"
    else:
        refused = origin is not None and origin.rstrip("/") not in own
    if refused:
        raise CdpError(
            ErrorCode.FORBIDDEN,
            "The development sign-in takes posts from this site only",
            reason="CROSS_SITE",
        )
