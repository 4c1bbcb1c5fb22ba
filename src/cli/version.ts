/** The package version, kept in one place for the CLI and $SYS. */
export const VERSION = '0.1.0';
