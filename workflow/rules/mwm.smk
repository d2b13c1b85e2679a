# Rules of the mwm family (see workflow/rules/common.smk for input functions).
