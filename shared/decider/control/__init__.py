"""Control: what operators see and set: decision points, reports, exports, the dashboard."""
