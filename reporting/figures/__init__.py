"""The figures of the quarterly report, one module per family (headline, breakdowns,
utilisation, forecast, carryover, prices, approvals, pilot, productivity, appendix). All of them
read one `ReportInputs` (inputs.py), which the grouped queries (queries.py) fill once;
`reporting.selectors.report_data` puts the tables together."""
