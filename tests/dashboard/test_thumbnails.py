"""#12 finding 4: dashboard thumbnails are made once, small, and stored; a page view decodes no full image."""
from __future__ import annotations

import io

import pytest
from PIL import Image, ImageFile

from conftest import image_bytes

PASSWORD = "password123"


@pytest.fixture
def signed_in(client, make_user, api_for):
    """A signed-in pro user and their API caller."""
    user = make_user(credits=10, password=PASSWORD)
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    return api_for(user)


@pytest.fixture
def loads(monkeypatch):
    """The images Pillow decodes from here on, by size."""
    sizes = []
    original = ImageFile.ImageFile.load

    def load(self):
        sizes.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return sizes


def thumbnail_of(client, job_id: str) -> Image.Image:
    response = client.get(f"/dashboard/jobs/{job_id}/thumbnail")
    assert response.status_code == 200 and response.mimetype == "image/png"
    return Image.open(io.BytesIO(response.data))


def test_a_queued_jobs_thumbnail_is_made_once_and_stored(client, signed_in, loads):
    job_id = signed_in.submit("enhance", image_bytes(640, 480)).get_json()["job_id"]
    loads.clear()
    first = thumbnail_of(client, job_id)
    assert max(first.size) <= 160
    assert loads and loads[0] == (640, 480)  # made once from the input…
    made = len(loads)
    for _ in range(3):
        thumbnail_of(client, job_id)
    assert len(loads) == made  # …and later views serve the stored one: nothing is decoded


def test_the_worker_makes_the_result_thumbnail(client, signed_in, work_queue, loads):
    job_id = signed_in.submit("upscale", image_bytes(320, 240), scale=2).get_json()["job_id"]
    work_queue()
    loads.clear()
    picture = thumbnail_of(client, job_id)
    assert max(picture.size) <= 160 and picture.size[0] > picture.size[1]
    assert all(max(size) <= 160 for size in loads)  # the 640×480 result was never decoded by the web


def test_the_jobs_page_asks_for_each_thumbnail_by_the_jobs_state(client, signed_in, work_queue):
    job_id = signed_in.submit("enhance", image_bytes()).get_json()["job_id"]
    queued = client.get("/dashboard/jobs").get_data(as_text=True)
    work_queue()
    done = client.get("/dashboard/jobs").get_data(as_text=True)
    url = f"/dashboard/jobs/{job_id}/thumbnail"
    assert url in queued and url in done
    queued_src = queued.split(url)[1].split('"')[0]
    done_src = done.split(url)[1].split('"')[0]
    assert queued_src != done_src  # the input's thumbnail, cached by the browser, is not shown once it is done


def test_expired_jobs_lose_their_thumbnails_too(app, client, signed_in, work_queue):
    from datetime import timedelta

    from pixelforge.extensions import db
    from pixelforge.models import Job, utcnow
    from pixelforge.storage import get_storage
    from pixelforge.upkeep import purge_expired_results

    job_id = signed_in.submit("enhance", image_bytes()).get_json()["job_id"]
    work_queue()
    thumbnail_of(client, job_id)
    folder = get_storage().path(db.session.get(Job, job_id).input_key).parent
    assert any("thumbnail" in path.name for path in folder.iterdir())
    job = db.session.get(Job, job_id)
    job.finished_at = utcnow() - timedelta(seconds=app.config["RESULT_RETENTION_SECONDS"] + 1)
    db.session.commit()
    assert purge_expired_results() == 1
    assert not [path.name for path in folder.iterdir()]
    assert client.get(f"/dashboard/jobs/{job_id}/thumbnail").status_code == 404
