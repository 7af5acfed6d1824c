#!/usr/bin/env Rscript
# Reference table for cyem's model selection: mclust on the galaxies data.
#
# Fits R's mclust to the galaxy velocities of Roeder (1990), as shipped in the
# MASS package, divided by 1000 (so in 1000 km/s), for G = 1..9 components and
# the univariate models "E" (equal variance; cyem's covariance_type="tied") and
# "V" (unequal variances; cyem's covariance_type="full"), and writes one row per
# (G, model) with mclust's BIC (higher is better: 2 logL - df log n), the
# log-likelihood and the number of free parameters.
#
# Usage (from the repository root; Debian: apt-get install r-base-core
# r-cran-mass r-cran-mclust):
#
#     Rscript scripts/mclust_galaxies.R [OUT.csv]
#
# OUT defaults to cyem/datasets/galaxies_mclust.csv. The output begins with
# "#" comment lines recording R's and the packages' versions and the date;
# read it with comment="#" (pandas) or cyem.datasets.load_galaxies_mclust().

suppressPackageStartupMessages({
  library(MASS)
  library(mclust)
})

args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1) args[1] else "cyem/datasets/galaxies_mclust.csv"

x <- galaxies / 1000
stopifnot(length(x) == 82)
G <- 1:9
models <- c("E", "V")

# The whole sweep in one call, exactly as a user would run it: one
# hierarchical-clustering start shared by every cell, default EM tolerances.
fit <- Mclust(x, G = G, modelNames = models, verbose = FALSE)
bic <- fit$BIC                       # G x model matrix, NA where EM failed

rows <- list()
for (g in G) {
  for (m in models) {
    b <- bic[as.character(g), m]
    df <- nMclustParams(m, d = 1, G = g)
    loglik <- if (is.na(b)) NA else (b + df * log(length(x))) / 2
    # Cross-check: refit this single cell and read its log-likelihood directly.
    cell <- Mclust(x, G = g, modelNames = m, verbose = FALSE)
    cell_loglik <- if (is.null(cell)) NA else cell$loglik
    if (!is.na(loglik) && !is.na(cell_loglik) &&
        abs(loglik - cell_loglik) > 1e-6 * max(1, abs(loglik)))
      warning(sprintf("G=%d %s: sweep loglik %.10g != single-cell loglik %.10g",
                      g, m, loglik, cell_loglik))
    rows[[length(rows) + 1]] <- data.frame(
      n_components = g, model = m,
      covariance_type = if (m == "E") "tied" else "full",
      n_parameters = df,
      bic_mclust = b, log_likelihood = loglik,
      chosen = (g == fit$G && m == fit$modelName))
  }
}
table <- do.call(rbind, rows)

header <- c(
  "# mclust reference table for the galaxies data (MASS::galaxies / 1000, n = 82)",
  "# produced by scripts/mclust_galaxies.R:",
  "#   Mclust(galaxies / 1000, G = 1:9, modelNames = c(\"E\", \"V\"))",
  "# bic_mclust: mclust's BIC, higher is better = 2 log_likelihood - n_parameters log(n)",
  "# log_likelihood: total log-likelihood, from the BIC; NA where mclust returned no fit",
  "# chosen: the model Mclust selects (largest BIC)",
  sprintf("# %s; MASS %s; mclust %s; date %s", R.version.string,
          packageVersion("MASS"), packageVersion("mclust"), format(Sys.Date())))
con <- file(out, "w")
writeLines(header, con)
write.csv(table, con, row.names = FALSE, quote = FALSE)   # 15 significant digits
close(con)
print(table, digits = 10)
