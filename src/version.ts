// The product's version, reported by `otm version`, otm_build_info and the API.
export const VERSION = '0.1.0';
