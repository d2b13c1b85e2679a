# Rules of the sky family (see workflow/rules/common.smk for input functions).
