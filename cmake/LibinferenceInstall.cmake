# Installing libinference: the libraries, the public headers, a pkg-config
# file and a CMake package, all relocatable (they find the prefix from where
# they were installed, so `cmake --install build --prefix DIR` works for any
# DIR).  Included from the top-level CMakeLists.txt after the library targets
# exist; tests/install checks both routes against an installed copy.
include(CMakePackageConfigHelpers)

# What a program linking the static library needs besides it, as plain link
# flags (so neither pkg-config nor the build's imported targets are needed
# to use the installed package).  The shared library carries its own
# dependencies and exports none.
set(INF_STATIC_LINK "")
set(INF_PC_REQUIRES "")
function(_inf_link_flags item out)
  set(r "")
  if(item MATCHES "^PkgConfig::(.+)$")
    set(p ${CMAKE_MATCH_1})
    set(r ${${p}_LDFLAGS})
    list(APPEND INF_PC_REQUIRES ${${p}_MODULE_NAME})
  elseif(item STREQUAL "Threads::Threads")
    set(r ${CMAKE_THREAD_LIBS_INIT})
  elseif(TARGET ${item})
    get_target_property(type ${item} TYPE)
    if(type STREQUAL "OBJECT_LIBRARY")
      # An area of the library: its objects are inside libinference.
      set(INF_PC_REQUIRES ${INF_PC_REQUIRES} PARENT_SCOPE)
      set(${out} "" PARENT_SCOPE)
      return()
    endif()
    # An imported library (e.g. CUDA::cudart_static): its file, then what it
    # needs in turn.
    get_target_property(loc ${item} IMPORTED_LOCATION)
    if(loc)
      list(APPEND r ${loc})
    endif()
    get_target_property(deps ${item} INTERFACE_LINK_LIBRARIES)
    if(deps)
      foreach(d ${deps})
        _inf_link_flags(${d} sub)
        list(APPEND r ${sub})
      endforeach()
    endif()
  elseif(item MATCHES "^(/|-)")
    set(r ${item})
  else()
    set(r -l${item})
  endif()
  set(INF_PC_REQUIRES ${INF_PC_REQUIRES} PARENT_SCOPE)
  set(${out} ${r} PARENT_SCOPE)
endfunction()
set(INF_PC_LIBS_PRIVATE "")  # the same, less what Requires.private brings
foreach(l ${INF_LINK})
  _inf_link_flags(${l} f)
  list(APPEND INF_STATIC_LINK ${f})
  if(NOT l MATCHES "^PkgConfig::")
    list(APPEND INF_PC_LIBS_PRIVATE ${f})
  endif()
endforeach()
# -L of the compiler's own library folders says nothing.
foreach(d ${CMAKE_C_IMPLICIT_LINK_DIRECTORIES})
  list(REMOVE_ITEM INF_STATIC_LINK "-L${d}")
endforeach()
list(REMOVE_DUPLICATES INF_STATIC_LINK)
list(REMOVE_DUPLICATES INF_PC_REQUIRES)
list(REMOVE_DUPLICATES INF_PC_LIBS_PRIVATE)
list(JOIN INF_PC_REQUIRES " " INF_PC_REQUIRES_PRIVATE)
list(JOIN INF_PC_LIBS_PRIVATE " " INF_PC_LIBS_PRIVATE)
target_link_libraries(inference_static INTERFACE "$<INSTALL_INTERFACE:${INF_STATIC_LINK}>")

# pkg-config: paths relative to the .pc file's own folder (${pcfiledir}).
set(INF_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(IS_ABSOLUTE "${INF_PC_DIR}")
  set(INF_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH rel "/p/${INF_PC_DIR}" "/p")
  string(REGEX REPLACE "/$" "" rel "${rel}")
  set(INF_PC_PREFIX "\${pcfiledir}/${rel}")
endif()
foreach(v LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${v}}")
    set(INF_PC_${v} "${CMAKE_INSTALL_${v}}")
  else()
    set(INF_PC_${v} "\${prefix}/${CMAKE_INSTALL_${v}}")
  endif()
endforeach()
configure_file(${PROJECT_SOURCE_DIR}/libinference.pc.in
               ${PROJECT_BINARY_DIR}/libinference.pc @ONLY)

install(TARGETS inference inference_static EXPORT libinference-targets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/inference.h
              ${PROJECT_SOURCE_DIR}/include/inference_backend.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/libinference.pc DESTINATION ${INF_PC_DIR})

# CMake: find_package(libinference) -> libinference::inference(_static).
set(INF_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/libinference)
install(EXPORT libinference-targets NAMESPACE libinference::
        DESTINATION ${INF_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/libinference-config.cmake.in
  ${PROJECT_BINARY_DIR}/libinference-config.cmake
  INSTALL_DESTINATION ${INF_CMAKE_DIR})
# 0.x: a minor version may break the interface.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/libinference-config-version.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/libinference-config.cmake
              ${PROJECT_BINARY_DIR}/libinference-config-version.cmake
        DESTINATION ${INF_CMAKE_DIR})
