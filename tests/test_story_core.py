"""The core story of a newcomer, through the web client only: register as a proposer, write a
draft, attach a PDF, submit it, switch to Vietnamese; the demo admin sees it with its trail."""

import io
import re

from initiatives.demo import DEMO_PASSWORD
from tests.test_initiatives import _pdf


def test_newcomer_submits_and_the_admin_sees_the_trail(app, runner, db):
    assert runner.invoke(args=["demo"]).exit_code == 0
    browser = app.test_client()
    assert browser.get("/register").status_code == 200
    response = browser.post("/register", data={
        "name": "Võ Thị Sáu", "email": "sau@example.vn", "organisation": "HTX Rau sạch Đà Lạt",
        "password": "một mật khẩu tốt", "confirm": "một mật khẩu tốt", "roles": ["proposer"],
        "locale": "en"})
    assert response.status_code == 302

    response = browser.post("/initiatives/new", data={"title": "Nhà kính thông minh cho rau",
                                                     "language": "vi"})
    assert response.status_code == 302
    draft_url = response.headers["Location"]
    initiative_id = int(re.search(r"/initiatives/(\d+)", draft_url).group(1))
    page = browser.get(draft_url).get_data(as_text=True)
    assert "Nhà kính thông minh cho rau" in page

    response = browser.post(f"/initiatives/{initiative_id}/edit", data={
        "title": "Nhà kính thông minh cho rau", "summary": "Cảm biến và tưới tự động cho nhà kính.",
        "description": "## Vấn đề\nRau Đà Lạt cần **kiểm soát** khí hậu.", "field": "agriculture",
        "keywords": "nhà kính, IoT, rau", "trl": "6", "ip_status": "none", "province": "lam-dong",
        "organisation": "HTX Rau sạch Đà Lạt", "team_members": "Võ Thị Sáu", "budget_vnd": "800000000",
        "expected_impact": "Tăng năng suất 20%.", "language": "vi"})
    assert response.status_code == 302

    response = browser.post(f"/initiatives/{initiative_id}/attachments",
                            data={"file": (io.BytesIO(_pdf()), "thuyết minh.pdf")},
                            content_type="multipart/form-data")
    assert response.status_code == 302
    assert "thuyết minh.pdf" in browser.get(draft_url).get_data(as_text=True)

    assert "Confirm and submit" in browser.get(f"/initiatives/{initiative_id}/submit").get_data(as_text=True)
    assert browser.post(f"/initiatives/{initiative_id}/submit").status_code == 302
    browser.get("/lang/vi")
    page = browser.get("/initiatives/mine").get_data(as_text=True)
    assert 'lang="vi"' in page and "Nhà kính thông minh cho rau" in page
    assert "Sáng kiến của tôi" in page or "Của tôi" in page

    admin = app.test_client()
    response = admin.post("/login", data={"email": "admin@demo.vn", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    listing = admin.get("/initiatives/all?q=Nhà kính").get_data(as_text=True)
    assert "Nhà kính thông minh cho rau" in listing
    page = admin.get(f"/initiatives/{initiative_id}").get_data(as_text=True)
    for action in ("initiative.created", "initiative.edited", "initiative.attachment_added",
                   "initiative.submitted", "initiative.entered_screening"):
        assert action in page
    assert "Võ Thị Sáu" in page
