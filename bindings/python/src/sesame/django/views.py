"""A ready "your sessions" page and a logout view.

``sessions``: the user's live sessions (device, IP, last seen, the current
one marked), a button per session to end it and one to end all the others
(POST, then a redirect back). ``logout``: POST only, final; redirects to
``LOGOUT_REDIRECT_URL`` (or ``/``). Include ``sesame.django.urls``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from . import auth


@login_required
@require_http_methods(["GET", "POST"])
def sessions(request: Any) -> Any:
    handle = request.sesame
    if request.method == "POST":
        if request.POST.get("revoke"):
            try:
                handle.revoke(request.POST["revoke"])  # only ever this user's own
            except ValueError:
                return HttpResponseBadRequest("not a session ID")
        elif request.POST.get("others"):
            handle.logout_others()
        return redirect(request.path)
    return render(request, "sesame/sessions.html", {"sessions": handle.sessions()})


def logout(request: Any) -> Any:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    auth.logout(request)
    return redirect(getattr(settings, "LOGOUT_REDIRECT_URL", None) or "/")
