# Rules of the fluxcal family (see workflow/rules/common.smk for input functions).
