// analytics: the desk is built by its issue-19 part.
"use strict";
