#!/usr/bin/env Rscript
# Reference log-likelihoods from R's mclust for tests/test_starts.py.
#
# Usage (from the repository root):  Rscript tests/data/mclust_univariate.R
#
# Writes, next to this script:
#   faithful_waiting.csv  R's datasets::faithful$waiting (n = 272), the data
#   faithful_waiting_mclust.csv  Mclust(x, G = 1:9, modelNames = c("E", "V")):
#       one row per (G, model), log-likelihood from the sweep's BIC, as
#       scripts/mclust_galaxies.R does for galaxies
#   mclust_single_fits.csv  single-cell fits Mclust(x, G = 4, modelNames = "V")
#       (and "E") on galaxies / 1000 and faithful waiting: cell$loglik
# Each CSV starts with "#" lines recording R's and mclust's versions.
suppressPackageStartupMessages({ library(MASS); library(mclust) })
here <- "tests/data"
versions <- sprintf("# %s; MASS %s; mclust %s; date %s", R.version.string,
                    packageVersion("MASS"), packageVersion("mclust"), format(Sys.Date()))

write_with_header <- function(table, path, header) {
  con <- file(path, "w")
  writeLines(c(header, versions), con)
  write.csv(table, con, row.names = FALSE, quote = FALSE)
  close(con)
}

waiting <- faithful$waiting
stopifnot(length(waiting) == 272)
write_with_header(data.frame(waiting = waiting), file.path(here, "faithful_waiting.csv"),
  c("# Old Faithful geyser: waiting time between eruptions (minutes), n = 272",
    "# source: R's datasets::faithful$waiting (Azzalini and Bowman 1990; Hardle 1991)"))

sweep <- function(x) {
  fit <- Mclust(x, G = 1:9, modelNames = c("E", "V"), verbose = FALSE)
  rows <- list()
  for (g in 1:9) for (m in c("E", "V")) {
    b <- fit$BIC[as.character(g), m]
    df <- nMclustParams(m, d = 1, G = g)
    rows[[length(rows) + 1]] <- data.frame(
      n_components = g, model = m, covariance_type = if (m == "E") "tied" else "full",
      n_parameters = df, bic_mclust = b,
      log_likelihood = if (is.na(b)) NA else (b + df * log(length(x))) / 2)
  }
  do.call(rbind, rows)
}
write_with_header(sweep(waiting), file.path(here, "faithful_waiting_mclust.csv"),
  c("# mclust reference table for faithful$waiting (n = 272), produced by",
    "# tests/data/mclust_univariate.R: Mclust(x, G = 1:9, modelNames = c(\"E\", \"V\"))",
    "# log_likelihood = (bic_mclust + n_parameters log n) / 2; NA where mclust returned no fit"))

single <- list()
for (d in list(list("galaxies_1000", galaxies / 1000), list("faithful_waiting", waiting)))
  for (m in c("V", "E")) {
    cell <- Mclust(d[[2]], G = 4, modelNames = m, verbose = FALSE)
    single[[length(single) + 1]] <- data.frame(dataset = d[[1]], n_components = 4,
      model = m, covariance_type = if (m == "E") "tied" else "full",
      log_likelihood = cell$loglik)
  }
write_with_header(do.call(rbind, single), file.path(here, "mclust_single_fits.csv"),
  c("# Single-cell mclust fits, produced by tests/data/mclust_univariate.R:",
    "#   Mclust(x, G = 4, modelNames = m)$loglik, x = MASS::galaxies / 1000 or faithful$waiting"))
