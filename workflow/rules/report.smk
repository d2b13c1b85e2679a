# Rules of the report family (see workflow/rules/common.smk for input functions).
