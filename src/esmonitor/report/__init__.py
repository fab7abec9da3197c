"""The monitoring report (issue 8, in progress): bilingual formatting and message catalogues."""
