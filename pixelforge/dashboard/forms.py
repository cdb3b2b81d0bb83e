"""The dashboard's forms; flask-wtf adds and checks a CSRF token on each."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from pixelforge.accounts import MIN_PASSWORD_CHARS


class SignupForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)],
                       render_kw={"autocomplete": "email"})
    password = PasswordField("Password", validators=[DataRequired(), Length(min=MIN_PASSWORD_CHARS, max=256)],
                             render_kw={"autocomplete": "new-password"},
                             description=f"At least {MIN_PASSWORD_CHARS} characters.")
    submit = SubmitField("Sign up")


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)],
                       render_kw={"autocomplete": "username"})
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()
    submit = SubmitField("Sign in")


class LogoutForm(FlaskForm):
    submit = SubmitField("Sign out")


class CreateKeyForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=100)], description="To tell your keys apart, e.g. “laptop”.")
    submit = SubmitField("Create key")


class RevokeKeyForm(FlaskForm):
    submit = SubmitField("Revoke")


class CancelJobForm(FlaskForm):
    submit = SubmitField("Cancel job")
