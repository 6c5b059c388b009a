//! The exam page and the gateway's dashboard: one self-contained HTML page (no assets from
//! elsewhere; works without internet). The gateway serves it live (rooms at a glance, the exam
//! list, an exam's page with plots and exports); `analyze` writes it as `report.html` with one exam
//! embedded: the same exam page, from the same code, offline. [`SeriesRow`] is the time-series
//! row both hand it.

use serde::Serialize;

const PAGE: &str = include_str!("exam_page.html");

/// One row of an exam's time series (the gateway's `/series`, the report's embedded series).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SeriesRow {
    pub msg_id: i64,
    /// Unix seconds at the gateway; seconds since the start of the file in a report.
    pub time: f64,
    pub frame: i64,
    pub quality_ok: bool,
    pub scored_in: Option<String>,
    pub yaw: Option<f64>,
    pub pitch: Option<f64>,
    pub roll: Option<f64>,
    pub shoulder_elevation: Option<f64>,
    pub lateral_shift: Option<f64>,
    pub sagittal_shift: Option<f64>,
    pub rotation: Option<i64>,
    pub laterocollis: Option<i64>,
    pub antero_retrocollis: Option<i64>,
    pub lateral_shift_score: Option<i64>,
    pub sagittal_shift_score: Option<i64>,
    pub rotation_source: Option<String>,
}
/// The embedded-data element as the live page has it (valid JSON: `null`).
const SLOT: &str = r#"<script id="embedded" type="application/json">null</script>"#;

/// The page; with `embedded` (`{"exam": …, "series": […]}`) it shows only that exam, offline.
pub fn page(embedded: Option<&serde_json::Value>) -> String {
    match embedded {
        // `</` would end the script element early; `<\/` is the same JSON string.
        Some(data) => PAGE.replacen(
            SLOT,
            &format!(
                r#"<script id="embedded" type="application/json">{}</script>"#,
                data.to_string().replace("</", "<\\/")
            ),
            1,
        ),
        None => PAGE.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_data_cannot_close_the_script() {
        let data = serde_json::json!({"exam": {"exam_id": "</script><script>alert(1)</script>"}, "series": []});
        let html = super::page(Some(&data));
        assert_eq!(
            html.matches("</script>").count(),
            super::PAGE.matches("</script>").count()
        );
        assert!(!html.contains(super::SLOT));
        assert!(super::page(None).contains(super::SLOT));
    }
}
