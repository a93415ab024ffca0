// The source of the precompiled-header targets (CMakeLists.txt, vigil_pch): empty on purpose;
// the headers come from target_precompile_headers.
