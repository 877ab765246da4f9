/*
 * kp_options.h -- training options beyond the solver's parameters.
 */
#ifndef KP_OPTIONS_H
#define KP_OPTIONS_H

/* Trained versions of a model that are kept (option keep_versions). */
#define KP_DEFAULT_KEEP_VERSIONS 3
#define KP_MAX_KEEP_VERSIONS 1000

#endif							/* KP_OPTIONS_H */
