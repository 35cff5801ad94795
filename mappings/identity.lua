-- identity: both servers share every id. The same as a job without a mapping.
return {}
