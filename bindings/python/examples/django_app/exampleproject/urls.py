from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.index),
    path("whoami", views.whoami),
    path("login/", views.login),  # sesame.django.login, with "remember me"
    path("django-login/", auth_views.LoginView.as_view(template_name="login.html")),  # Django's own login
    path("django-logout/", auth_views.LogoutView.as_view()),  # and logout (POST)
    path("password/", auth_views.PasswordChangeView.as_view(template_name="password.html", success_url="/")),
    path("account/", include("sesame.django.urls")),  # account/sessions/, account/logout/
]
