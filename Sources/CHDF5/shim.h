#ifndef CHDF5_SHIM_H
#define CHDF5_SHIM_H
#include <hdf5.h>
/* HDF5's type and property-list "constants" are macros that call H5open(); Swift cannot import them. */
static inline hid_t reptile_h5t_native_uint8(void)   { return H5T_NATIVE_UINT8; }
static inline hid_t reptile_h5t_native_int64(void)   { return H5T_NATIVE_INT64; }
static inline hid_t reptile_h5t_native_float(void)   { return H5T_NATIVE_FLOAT; }
static inline hid_t reptile_h5t_native_double(void)  { return H5T_NATIVE_DOUBLE; }
static inline hid_t reptile_h5t_std_u8le(void)       { return H5T_STD_U8LE; }
static inline hid_t reptile_h5t_std_i64le(void)      { return H5T_STD_I64LE; }
static inline hid_t reptile_h5t_ieee_f32le(void)     { return H5T_IEEE_F32LE; }
static inline hid_t reptile_h5t_ieee_f64le(void)     { return H5T_IEEE_F64LE; }
static inline hid_t reptile_h5t_c_s1(void)           { return H5T_C_S1; }
static inline hid_t reptile_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t reptile_h5p_dataset_access(void) { return H5P_DATASET_ACCESS; }
static inline hid_t reptile_h5p_group_create(void)   { return H5P_GROUP_CREATE; }
static inline hid_t reptile_h5p_file_create(void)    { return H5P_FILE_CREATE; }
static inline hid_t reptile_h5p_file_access(void)    { return H5P_FILE_ACCESS; }
static inline hid_t reptile_h5p_object_create(void)  { return H5P_OBJECT_CREATE; }
static inline unsigned reptile_h5f_acc_trunc(void)   { return H5F_ACC_TRUNC; }
static inline unsigned reptile_h5f_acc_excl(void)    { return H5F_ACC_EXCL; }
static inline unsigned reptile_h5f_acc_rdonly(void)  { return H5F_ACC_RDONLY; }
static inline size_t reptile_h5t_variable(void)      { return H5T_VARIABLE; }
static inline hsize_t reptile_h5s_unlimited(void)    { return H5S_UNLIMITED; }
/* 1.10 (Debian 12) has H5Dvlen_reclaim; 1.12+ prefers H5Treclaim. */
static inline herr_t reptile_h5_reclaim(hid_t type, hid_t space, void *buffer) {
#if H5_VERS_MAJOR > 1 || (H5_VERS_MAJOR == 1 && H5_VERS_MINOR >= 12)
    return H5Treclaim(type, space, H5P_DEFAULT, buffer);
#else
    return H5Dvlen_reclaim(type, space, H5P_DEFAULT, buffer);
#endif
}
/* The type of the link `name` at `location` (H5L_TYPE_HARD, _SOFT, _EXTERNAL, …), or -1 when it cannot be read.
   (H5Lget_info maps to the version of this HDF5; Swift cannot follow the macro.) */
static inline int reptile_h5_link_type(hid_t location, const char *name) {
    H5L_info_t info;
    if (H5Lget_info(location, name, &info, H5P_DEFAULT) < 0) return -1;
    return (int)info.type;
}
static inline int reptile_h5l_type_hard(void) { return (int)H5L_TYPE_HARD; }
/* Error reporting off: Reptile turns failures into its own one-line messages. */
static inline void reptile_h5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
#endif
