/* rollback: mv F@@/snap/NAME F puts the snapshot's bytes and size back
 * into F and consumes the snapshot (core/mf-rollback.h), and the
 * user.mapfs.changed attribute of a snapshot lists what changed since.
 */
#pragma once

#include "fs.h"
#include "inode.h"

/* rename(snapdir/name, target_dir/target): roll back, when target is the
 * snapshot's file, or the path that file was removed from and that names
 * nothing now (the file comes back there). Otherwise EINVAL; EEXIST when
 * the snapshot is of a file that target replaced. */
void fs_rollback_rename(fuse_req_t req, FsInode *snapdir, const char *name,
			FsInode *target_dir, const char *target);

/* Did a rollback to snapshot view in stop part way (a crash)? Its
 * user.mapfs.state says "rollback-interrupted" then. */
bool fs_rollback_interrupted(FsContext *ctx, FsInode *in);

/* Is name the changed-ranges attribute ("user.mapfs.changed", or
 * "user.mapfs.changed.FROM" for the ranges that end past byte FROM)? */
bool fs_rollback_is_changed_xattr(const char *name);
/* Its value for snapshot view in, or NULL with *err (positive errno).
 * Lines: "size SNAPSHOT_SIZE FILE_SIZE", then "OFFSET LENGTH" per range,
 * and, when the value would pass 60000 bytes, a last "more FROM": ask
 * again with user.mapfs.changed.FROM for the rest. */
char *fs_rollback_changed_xattr(FsContext *ctx, FsInode *in,
				const char *name, int *err);
