from django.contrib import messages
from django.contrib.auth import authenticate
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

import sesame.django


def index(request):
    request.session["visits"] = request.session.get("visits", 0) + 1  # Django's own cookie, on a GET
    return render(request, "index.html")


def whoami(request):
    user = request.user
    return HttpResponse(f"user {user.pk}" if user.is_authenticated else "anonymous", content_type="text/plain")


@require_POST
def login(request):
    user = authenticate(request, username=request.POST.get("username"), password=request.POST.get("password"))
    if user is None:
        messages.error(request, "Wrong user name or password")
        return redirect("/")
    sesame.django.login(request, user, remember_me=bool(request.POST.get("remember")))
    messages.success(request, f"Welcome, {user.get_username()}")
    return redirect("/")
