package meta

// UpdateImageName is the record `occ update` pulls or builds the new image
// into before it replaces CurrentImageName (the one before becoming
// PreviousImageName). A failed pull or build therefore never touches the
// current and previous records; a leftover one (an occ killed half-way) is
// replaced by the next update.
const UpdateImageName = LocalImageRepo + ":update"
