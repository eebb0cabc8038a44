"""The eight claims grokrepro targets, for the report's table of contents. A claim is implemented when
specs/<claim>.yaml exists; the others are listed as not implemented, never as reproduced."""

CLAIMS = {
    "grokking": ("Power et al. 2022",
                 "Validation accuracy jumps to ~100 % long after the training set is fit; less data, longer delay."),
    "critical_dataset_size": ("Varma et al. 2023",
                              "Memorisation gets less efficient with more data, generalisation does not; they "
                              "cross at a critical dataset size."),
    "ungrokking": ("Varma et al. 2023",
                   "A grokked network trained further on too little data loses its test accuracy."),
    "semi_grokking": ("Varma et al. 2023",
                      "Near the critical dataset size, test accuracy plateaus at intermediate values."),
    "lazy_to_rich": ("Kumar et al. 2024",
                     "Grokking is the move from lazy (kernel) to rich (feature-learning) training, set by the "
                     "output scale."),
    "spectral_prediction": ("Notsawo et al. 2023",
                            "Oscillations of the early training loss predict whether a run will grok."),
    "lmn_compression": ("Liu et al. 2023",
                        "The linear mapping number falls between memorisation and generalisation."),
    "kernel_vs_rich": ("Mohamadi et al. 2024",
                       "Kernel methods need a constant fraction of modular-addition data; a rich two-layer "
                       "network needs ~p^(5/3)."),
}
