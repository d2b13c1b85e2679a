# Rules of the bosz family (see workflow/rules/common.smk for input functions).
