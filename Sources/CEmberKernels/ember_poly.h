// Polynomial coefficients the ISAs' vector ln x and erf x share (Cephes' single-precision logf and
// erff), highest degree first, for Horner's rule.
#ifndef EMBER_POLY_H
#define EMBER_POLY_H

/// ln(1 + f) = f − f²/2 + f³·P(f) for f in [√½ − 1, √2 − 1].
static const float ember_logf_p[9] = {7.0376836292e-2f, -1.1514610310e-1f, 1.1676998740e-1f, -1.2420140846e-1f,
                                      1.4249322787e-1f, -1.6668057665e-1f, 2.0000714765e-1f, -2.4999993993e-1f,
                                      3.3333331174e-1f};
/// erf x = x·T(x²) for |x| < 1.
static const float ember_erff_t[7] = {7.853861353153693e-5f, -8.010193625184903e-4f, 5.188327685732524e-3f,
                                      -2.685381193529856e-2f, 1.128358514861418e-1f, -3.761262582423300e-1f,
                                      1.128379165726710e+0f};
/// erfc a = e^−a²·P(1/a²)/a for 1 ≤ a < 2, R from 2 on.
static const float ember_erfcf_p[9] = {2.326819970068386e-2f, -1.387039388740657e-1f, 3.687424674597105e-1f,
                                       -5.824733027278666e-1f, 6.210004621745983e-1f, -4.944515323274145e-1f,
                                       3.404879937665872e-1f, -2.741127028184656e-1f, 5.638259427386472e-1f};
static const float ember_erfcf_r[8] = {-1.047766399936249e+1f, 1.297719955371516e+1f, -7.495518717768503e+0f,
                                       2.921019019210786e+0f, -1.015265279202700e+0f, 4.218463358204948e-1f,
                                       -2.820767439740514e-1f, 5.641895067754075e-1f};

#endif
