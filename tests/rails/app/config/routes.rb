# frozen_string_literal: true

Rails.application.routes.draw do
  devise_for :users
  root "pages#home"
  get "/secret" => "pages#secret"
  get "/notes" => "pages#notes"
  post "/notes" => "pages#submit"
  get "/me" => "pages#me"
  get "/sessions" => "pages#sessions"
  post "/sessions" => "pages#revoke"
  get "/page" => "pages#page"
  get "/whoami" => "pages#whoami_text"
  get "/form" => "pages#csrf_form"
  post "/note" => "pages#note"
  get "/metrics" => "pages#metrics"
  post "/login" => "pages#e2e_login"
  post "/logout" => "pages#e2e_logout"
end
