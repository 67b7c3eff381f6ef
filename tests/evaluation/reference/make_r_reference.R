# Reference values from R for tests/evaluation/test_r_reference.py.
#
# Run from the repository root (R >= 4.2 with survival and maxstat; Debian:
# apt-get install -y r-base-core r-cran-survival r-cran-maxstat):
#
#     .venv/bin/python tests/evaluation/reference/export_data.py   # writes the CSVs
#     Rscript tests/evaluation/reference/make_r_reference.R        # writes r_reference.json
#
# R is never used at test time; the tests read only the CSVs and the JSON written here.
# Base R only for the JSON (no jsonlite), numbers printed with 17 significant digits.

suppressPackageStartupMessages({
  library(survival)
  library(maxstat)
})

here <- "tests/evaluation/reference"
read <- function(name) read.csv(file.path(here, paste0(name, ".csv")), stringsAsFactors = FALSE)

num <- function(x) ifelse(is.na(x), "null", sprintf("%.17g", x))
str <- function(x) paste0("\"", x, "\"")
obj <- function(keys, values) paste0("{", paste0(str(keys), ": ", values, collapse = ", "), "}")
arr <- function(values) paste0("[", paste0(values, collapse = ", "), "]")

# (a) median survival with the log-log CI, per group and overall ------------------------------
median_rows <- function(d) {
  rows <- character(0)
  fit_g <- survfit(Surv(time, event) ~ group, data = d, conf.type = "log-log")
  tab <- summary(fit_g)$table
  for (i in seq_len(nrow(tab))) {
    g <- sub("^group=", "", rownames(tab)[i])
    rows <- c(rows, obj(c("group", "n", "n_events", "median", "ci_low", "ci_high"),
                        c(str(g), num(tab[i, "records"]), num(tab[i, "events"]),
                          num(tab[i, "median"]), num(tab[i, "0.95LCL"]),
                          num(tab[i, "0.95UCL"]))))
  }
  fit_all <- survfit(Surv(time, event) ~ 1, data = d, conf.type = "log-log")
  t1 <- summary(fit_all)$table
  rows <- c(rows, obj(c("group", "n", "n_events", "median", "ci_low", "ci_high"),
                      c(str("all"), num(t1["records"]), num(t1["events"]), num(t1["median"]),
                        num(t1["0.95LCL"]), num(t1["0.95UCL"]))))
  arr(rows)
}

# (b) maximally selected log-rank statistic, Lausen & Schumacher 1992 p-value -------------------
maxstat_entry <- function(d, covariate) {
  d$x <- d[[covariate]]
  m <- maxstat.test(Surv(time, event) ~ x, data = d, smethod = "LogRank", pmethod = "Lau92",
                    minprop = 0.1, maxprop = 0.9)
  obj(c("covariate", "cutpoint", "statistic", "p_value", "cuts", "stats"),
      c(str(covariate), num(m$estimate), num(m$statistic), num(m$p.value),
        arr(num(m$stats * 0 + m$cuts)), arr(num(m$stats))))
}

waltons <- read("waltons")
rossi <- read("rossi")
veterans <- read("veterans")

json <- obj(
  c("generated_by", "r_version", "survival_version", "maxstat_version", "median_survival",
    "maxstat"),
  c(str("tests/evaluation/reference/make_r_reference.R"),
    str(paste(R.version$major, R.version$minor, sep = ".")),
    str(as.character(packageVersion("survival"))),
    str(as.character(packageVersion("maxstat"))),
    obj(c("waltons", "rossi", "veterans"),
        c(median_rows(waltons), median_rows(rossi), median_rows(veterans))),
    obj(c("rossi_age", "rossi_prio", "veterans_karnofsky"),
        c(maxstat_entry(rossi, "age"), maxstat_entry(rossi, "prio"),
          maxstat_entry(veterans, "karnofsky")))))

writeLines(json, file.path(here, "r_reference.json"))
