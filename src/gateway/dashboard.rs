//! The dashboard: one self-contained HTML page (no assets from elsewhere; works without internet).
//! Served live by the gateway (rooms at a glance, the exam list, an exam's page with plots and
//! exports), and written by `analyze` as `report.html` with one exam embedded: the same exam page,
//! from the same code, offline.

const PAGE: &str = include_str!("dashboard.html");
const SLOT: &str = "/*EMBEDDED*/null";

/// The page; with `embedded` (`{"exam": …, "series": […]}`) it shows only that exam, offline.
pub fn page(embedded: Option<&serde_json::Value>) -> String {
    match embedded {
        // `</` would end the script element early; `<\/` is the same JSON string.
        Some(data) => PAGE.replacen(SLOT, &data.to_string().replace("</", "<\\/"), 1),
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
