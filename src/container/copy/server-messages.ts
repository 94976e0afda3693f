/** The helper's not-found message (docker's daemon wording), shared with the side that rewords it. */
export const NOT_FOUND = 'Could not find the file';
