"""The managers' campaign console: list, build with a live preview, launch, watch."""

from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict

from textbank import audit, enqueue
from textbank.blasts.launch import begin_launch, ensure_launchable, launch_state, snapshotting
from textbank.campaigns import editing
from textbank.campaigns.audience import normalize_audience
from textbank.campaigns.lifecycle import (
    CampaignError,
    create_campaign,
    describe_audience,
    get_campaign,
    set_paused,
)
from textbank.campaigns.listing import CampaignState, list_campaigns, state_of
from textbank.campaigns.planning import count_audience, launch_plan, preview_texts
from textbank.campaigns.watching import campaign_view
from textbank.members.fields import FieldError
from textbank.models import Campaign, CampaignKind, CampaignMode, CampaignStatus, utcnow
from textbank.reports.measures import MEASURES
from textbank.values import BadValue, optional_id
from textbank.web import redis_ext, settings
from textbank.web.auth import MANAGERS, login_required, secure_headers, signed_in
from textbank.web.campaign_forms import (
    KEYWORD_ROWS,
    LANGUAGES,
    TIME_ZONES,
    FormError,
    definition_from_form,
    field_of,
    form_from_campaign,
    form_values,
    languages_of,
    launch_time,
)
from textbank.web.console_form import (
    canned_languages,
    change_rows,
    console_from_form,
    console_values,
    row_counts,
)
from textbank.web.database import db

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")
bp.after_request(secure_headers)

KINDS = [k.value for k in CampaignKind if k != CampaignKind.DIGEST]


class ActionForm(FlaskForm):
    """Only its CSRF token: every button on these pages is a POST form."""


def _campaign(campaign_id: int) -> Campaign:
    try:
        return get_campaign(db(), campaign_id)
    except LookupError:
        abort(404)


def _common() -> dict:
    return {
        "measures": MEASURES,
        "languages": LANGUAGES,
        "kinds": KINDS,
        "action_form": ActionForm,
        "org_name": settings().org_name,
    }


@bp.get("")
@login_required(MANAGERS)
def index():
    state = request.args.get("state", "")
    kind = request.args.get("kind", "")
    mode = request.args.get("mode", "")
    shown = {"state": state, "kind": kind, "mode": mode, "states": CampaignState.ALL}
    try:
        page = list_campaigns(db(), state=state or None, kind=kind or None, mode=mode or None,
                              after=request.args.get("after") or None, limit=25)  # fmt: skip
    except CampaignError as exc:
        return render_template("campaigns/list.html", error=str(exc), page=None, **shown,
                               **_common()), 400  # fmt: skip
    return render_template("campaigns/list.html", page=page, describe=describe_audience,
                           **shown, **_common())  # fmt: skip


def _form_page(
    campaign: Campaign | None,
    values: dict,
    error: str | None = None,
    status=200,
    field: str | None = None,
    rows: dict | None = None,
    focus: str | None = None,
):
    """The create/edit form; an error is shown at the top and, when it names one, by its
    field (the top one links there)."""
    languages = languages_of(campaign)
    # Rows up to the last filled one, and blanks after it: a form shown again after an
    # error does not grow by its blank rows each time.
    filled = [key[8:] for key, value in values.items() if key.startswith("kw_word_") and value]
    used_rows = max((int(row) + 1 for row in filled if row.isdigit()), default=0)
    return render_template(
        "campaigns/form.html",
        campaign=campaign,
        values=values,
        error=error,
        error_field=field,
        focus=focus,
        translatable=languages,
        canned_languages=canned_languages(campaign, languages),
        rows=rows or row_counts(values),
        keyword_rows=used_rows + KEYWORD_ROWS,
        form=ActionForm(),
        **_common(),
    ), status


def _save(campaign: Campaign | None):
    session = db()
    form = request.form
    languages = languages_of(campaign)
    if action := form.get("rows"):  # "Add another" / "Remove": the form again, nothing saved
        try:
            values, rows, focus = change_rows(form, form_values(form), action)
        except FormError as exc:
            return _form_page(campaign, form_values(form), str(exc), 400,
                              getattr(exc, "field", None), row_counts({}, form))  # fmt: skip
        return _form_page(campaign, values, rows=rows, focus=focus)
    try:
        data = definition_from_form(form, languages)
        data.update(console_from_form(form, canned_languages(campaign, languages)))
        if campaign is None:
            campaign = create_campaign(session, data)
        else:
            editing.update_campaign(session, campaign, data)
    except (CampaignError, FormError, FieldError) as exc:
        session.rollback()  # nothing half-written: the campaign is as it was
        field = getattr(exc, "field", None) or field_of(str(exc))
        return _form_page(campaign, form_values(form), str(exc), 400, field,
                          row_counts({}, form))  # fmt: skip
    session.commit()
    current_app.logger.info("campaign %s saved", campaign.id)
    if form.get("next") == "launch":
        return redirect(url_for("campaigns.confirm", campaign_id=campaign.id))
    flash(f"Saved “{campaign.name}”.")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


@bp.errorhandler(BadValue)
def _bad_value(exc: BadValue):
    """A value refused before the view (a NUL character, an id out of range): on the
    campaign form, the form again with the message by the field, not a page of its own."""
    if request.method == "POST" and request.endpoint in ("campaigns.new", "campaigns.edit"):
        return _form_again(str(exc))
    return render_template("message.html", title="Something in this request is wrong",
                           message=str(exc)), 400  # fmt: skip


@login_required(MANAGERS)  # the view's own check had not run yet: the form is for managers
def _form_again(message: str):
    campaign = None
    if request.endpoint == "campaigns.edit":
        campaign = db().get(Campaign, (request.view_args or {}).get("campaign_id", 0))
        if campaign is None or campaign.status != CampaignStatus.DRAFT:
            return render_template("message.html", title="Something in this request is wrong",
                                   message=message), 400  # fmt: skip
    pairs = list(request.form.items(multi=True))
    form = MultiDict([(k.replace("\x00", ""), v.replace("\x00", "")) for k, v in pairs])
    field = next((k.replace("\x00", "") for k, v in pairs if "\x00" in k + v), None)
    return _form_page(campaign, form_values(form), message, 400, field, row_counts({}, form))


@bp.route("/new", methods=["GET", "POST"])
@login_required(MANAGERS)
def new():
    if request.method == "POST":
        return _save(None)
    return _form_page(None, {"kind": "gotv", "mode": "blast", "batch_size": "200",
                             "reclaim_minutes": "60"})  # fmt: skip


@bp.route("/<int:campaign_id>/edit", methods=["GET", "POST"])
@login_required(MANAGERS)
def edit(campaign_id: int):
    campaign = _campaign(campaign_id)
    if campaign.status != CampaignStatus.DRAFT:
        flash("A launched campaign's texts cannot change; duplicate it to send another.")
        return redirect(url_for("campaigns.show", campaign_id=campaign_id))
    if request.method == "POST":
        return _save(campaign)
    return _form_page(campaign, {**form_from_campaign(campaign), **console_values(campaign)})


@bp.post("/preview")
@login_required(MANAGERS)
def preview():
    """The form's live preview: each language as a real member sees it, and the count."""
    session = db()
    campaign_id = request.form.get("campaign_id", "")
    campaign = session.get(Campaign, n) if (n := optional_id(campaign_id, "campaign_id")) else None
    error, previews, count = None, [], None
    try:
        data = definition_from_form(request.form, languages_of(campaign))
        audience = normalize_audience(data["audience"])
        count = count_audience(session, audience)
        if data["message"].strip():  # each language shows its own template's mistakes
            previews = preview_texts(session, data["message"], data["translations"], audience)
    except (FormError, FieldError) as exc:
        error = str(exc)
    p2p = request.form.get("mode") == CampaignMode.P2P  # the count is of members to text
    return render_template("campaigns/_preview.html", error=error, previews=previews,
                           count=count, p2p=p2p, **_common())  # fmt: skip


@bp.get("/<int:campaign_id>")
@login_required(MANAGERS)
def show(campaign_id: int):
    campaign = _campaign(campaign_id)
    view = campaign_view(db(), campaign)
    return render_template("campaigns/show.html", view=view, c=campaign, **_common())


@bp.get("/<int:campaign_id>/live")
@login_required(MANAGERS)
def live(campaign_id: int):
    """The counts part of the campaign page, which the page polls while texts go out."""
    campaign = _campaign(campaign_id)
    view = campaign_view(db(), campaign)
    return render_template("campaigns/_live.html", view=view, c=campaign, **_common())


@bp.get("/<int:campaign_id>/launch")
@login_required(MANAGERS)
def confirm(campaign_id: int):
    campaign = _campaign(campaign_id)
    if campaign.status != CampaignStatus.DRAFT:
        return redirect(url_for("campaigns.show", campaign_id=campaign_id))
    return render_template("campaigns/launch.html", c=campaign, state=state_of(campaign),
                           plan=launch_plan(db(), campaign), time_zones=TIME_ZONES,
                           describe=describe_audience, **_common())  # fmt: skip


def _back(campaign_id: int, message: str | None = None):
    if message:
        flash(message)
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


def _start_launch(campaign: Campaign) -> dict:
    """Launch as the API does: the snapshot and the sends are jobs; answer at once."""
    session = db()
    if begin_launch(session, campaign, utcnow()):  # a second press launches nothing
        audit.record(session, signed_in(), "campaign.launch", f"campaign {campaign.id}",
                     via="console")  # fmt: skip
    session.commit()
    if snapshotting(campaign):
        enqueue.launch(redis_ext.client(), campaign.id)
    state = launch_state(campaign)
    current_app.logger.info("campaign %s launched from the console: %s", campaign.id, state)
    return state


@bp.post("/<int:campaign_id>/launch")
@login_required(MANAGERS)
def launch(campaign_id: int):
    session = db()
    campaign = _campaign(campaign_id)
    if campaign.archived_at is not None:
        return _back(campaign_id, "This campaign is archived; bring it back before launching.")
    try:
        ensure_launchable(session, campaign)
    except CampaignError as exc:
        return _back(campaign_id, f"Not launched: {exc}.")
    campaign.scheduled_at = None
    _start_launch(campaign)
    if campaign.mode == CampaignMode.P2P:
        return _back(campaign_id, "Launched: nothing is sent yet. Volunteers see it in their "
                     "console and send each first text; this page counts them.")  # fmt: skip
    return _back(campaign_id, "Launched: the texts go out as the audience is read; this page "
                 "counts them as they go.")  # fmt: skip


@bp.post("/<int:campaign_id>/schedule")
@login_required(MANAGERS)
def schedule(campaign_id: int):
    session = db()
    campaign = _campaign(campaign_id)
    cancel = request.form.get("cancel") == "1"
    try:
        when = None if cancel else launch_time(request.form)
        editing.schedule(campaign, when, utcnow())
        if when is not None:
            ensure_launchable(session, campaign)
    except (CampaignError, FormError) as exc:
        session.rollback()
        flash(f"Not scheduled: {exc}.")
        return redirect(url_for("campaigns.confirm", campaign_id=campaign_id))
    audit.record(session, signed_in(), "campaign.schedule", f"campaign {campaign_id}",
                 at=when.isoformat() if when else "cancelled")  # fmt: skip
    session.commit()
    if when is None:
        return _back(campaign_id, "The scheduled launch is cancelled; the campaign is a draft.")
    enqueue.scheduled_launch(redis_ext.client(), campaign.id, when)
    shown = when.strftime("%A %d %B %Y at %H:%M ") + (when.tzname() or "")
    return _back(campaign_id, f"Scheduled to launch {shown}.")


@bp.post("/<int:campaign_id>/<any(pause, resume):action>")
@login_required(MANAGERS)
def pause_or_resume(campaign_id: int, action: str):
    session = db()
    campaign = _campaign(campaign_id)
    try:
        set_paused(session, campaign, action == "pause")
    except CampaignError as exc:
        return _back(campaign_id, str(exc))
    audit.record(session, signed_in(), f"campaign.{action}", f"campaign {campaign_id}",
                 via="console")  # fmt: skip
    session.commit()
    if action == "resume":
        enqueue.queue_due(session, redis_ext.client(), campaign_id)
    return _back(campaign_id, "Paused: no more texts go until you resume." if action == "pause"
                 else "Resumed: the remaining texts are going out.")  # fmt: skip


@bp.post("/<int:campaign_id>/duplicate")
@login_required(MANAGERS)
def duplicate(campaign_id: int):
    session = db()
    copy = editing.duplicate_campaign(session, _campaign(campaign_id))
    session.commit()
    flash("A copy to edit: nothing is sent until you launch it.")
    return redirect(url_for("campaigns.edit", campaign_id=copy.id))


@bp.post("/<int:campaign_id>/<any(archive, unarchive):action>")
@login_required(MANAGERS)
def archive(campaign_id: int, action: str):
    session = db()
    campaign = _campaign(campaign_id)
    try:
        editing.set_archived(campaign, action == "archive", utcnow())
    except CampaignError as exc:
        return _back(campaign_id, str(exc))
    audit.record(session, signed_in(), f"campaign.{action}", f"campaign {campaign_id}")
    session.commit()
    return _back(campaign_id, "Archived: it left the campaign list; its counts are kept."
                 if action == "archive" else "Back in the campaign list.")  # fmt: skip


@bp.post("/<int:campaign_id>/text-new-members")
@login_required(MANAGERS)
def text_new_members(campaign_id: int):
    session = db()
    campaign = _campaign(campaign_id)
    try:
        added = editing.reopen_for_new_members(session, campaign)
    except CampaignError as exc:
        return _back(campaign_id, str(exc))
    if added:
        audit.record(session, signed_in(), "campaign.text_new_members", f"campaign {campaign_id}",
                     added=added)  # fmt: skip
    session.commit()
    if not added:
        return _back(campaign_id, "Nobody new has joined the audience since the launch.")
    enqueue.launch(redis_ext.client(), campaign_id)
    return _back(campaign_id, f"Texting {added:,} new member{'s' if added != 1 else ''}; "
                 "nobody is texted twice.")  # fmt: skip


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
