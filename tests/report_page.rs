//! `analyze` writes `report.html`: the gateway's exam page with the run embedded. Checked in a
//! real browser (headless chromium): it draws the plots and the summary offline, with nothing
//! fetched from anywhere.

mod common;
use common::{cdposture, tmp};

#[test]
fn analyze_writes_the_exam_page_and_it_draws_offline() {
    let dir = tmp("report-page");
    let video = common::tilting_video(&dir);
    let out = dir.join("out");
    let o = cdposture(&[
        "analyze",
        video.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report = out.join("report.html");
    let html = std::fs::read_to_string(&report).unwrap();
    // Self-contained: no script, style or image from elsewhere.
    for outside in ["src=\"http", "href=\"http", "src=\"//", "@import", "url(http"] {
        assert!(!html.contains(outside), "{outside} in report.html");
    }
    let dom = common::browser::dom(&dir.join("chromium"), &format!("file://{}", report.display()));
    assert!(dom.contains("Exam tilt.mp4"), "{dom}");
    // The tilt is drawn: a roll line with a point per frame, and the summary's laterocollis row.
    let at = dom.find("data-series=\"roll\"").expect("roll plot");
    let path = &dom[dom[..at].rfind("<path").unwrap()..at];
    assert!(path.matches('L').count() >= 15, "{path}");
    assert!(dom.contains("<td>Laterocollis</td>"), "{dom}");
    let png = common::browser::screenshot(
        &dir.join("chromium"),
        &format!("file://{}", report.display()),
        &dir.join("report.png"),
    );
    println!("screenshot: {}", png.display());
}
